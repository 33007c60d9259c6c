export type { LeaseStore, OpenReport, StoreStats, StoreState, StoreErrorCode } from './lease-store.js';
export { StoreError, CORRUPT_KEYS_REPORTED, isStoreBusy, isStoreRejected, writeWhenStoreHasRoom } from './lease-store.js';
export type { CommitOptions, Timer, BatchOp } from './commit-queue.js';
export { COMMIT_DEFAULTS, realTimer } from './commit-queue.js';
export { MemoryLeaseStore, MemoryDisk, type MemoryLeaseStoreOptions } from './memory-store.js';
export {
  LevelLeaseStore,
  createLevelDb,
  ROUTER_LEVEL_OPTIONS,
  type LevelLeaseStoreOptions,
  type LevelHandle,
  type LevelTuning,
} from './level-store.js';
export {
  encodeLease,
  decodeLease,
  leaseSeq,
  leaseKey,
  resourceOfKey,
  checkLease,
  sameLease,
  storableProblem,
  RECORD_VERSION,
  LEASE_KEY_BYTES,
  KEY_LEASE,
  KEY_META,
  KEY_SEQ,
  type CorruptReason,
} from './record.js';
