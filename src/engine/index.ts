export { createEngine, type Engine, type EngineEnv, type Decision } from './handle.js';
export type { Inbound, DropReason } from './inbound.js';
export type { Lease, LeaseChange, LeaseState, IaType, BindingView } from './lease.js';
export { iaKey } from './lease.js';
export { standalonePolicy, type FailoverPolicy } from './policy.js';
export type { LeasequeryDecision, LeasequeryEnv, LeasequeryOutcome } from './leasequery.js';
export { LEASES_PER_ANSWER_MAX } from './leasequery.js';
