import { MemoryStore } from '../../src/store/memory.js';
import { storeContract } from './contract.js';

// A MemoryStore "restarts" by being handed to a new broker: the same instance is reopened.
storeContract('MemoryStore', {
  create: async () => new MemoryStore(),
  reopen: async (previous) => previous,
});
