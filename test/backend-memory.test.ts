import { MemoryBackend, MemoryStore } from '../src/backend/memory.js';
import { backendContract } from './backend-contract.js';

backendContract('memory', async (count) => {
  const store = new MemoryStore();
  return {
    nodes: Array.from({ length: count }, () => new MemoryBackend(store)),
    cleanup: async () => undefined,
  };
});
