import { MemoryDisk, MemoryLeaseStore } from '../../../src/store/index.js';
import { describeLeaseStore } from './contract.js';
import { sleep } from './helpers.js';

describeLeaseStore('MemoryLeaseStore', () => {
  const disk = new MemoryDisk();
  return {
    create: (options) => new MemoryLeaseStore({ ...options, disk }),
    failWrites: (error) => {
      disk.beforeWrite = async () => {
        await sleep(10);
        throw error;
      };
    },
    writeRaw: async (key, value) => {
      disk.records.set(MemoryDisk.keyOf(key), value);
    },
    cleanup: async () => {
      disk.beforeWrite = undefined;
    },
  };
});
