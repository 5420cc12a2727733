import { MemoryBackend, MemoryStore } from '../src/backend/memory.js';
import { backendApiContract } from './backend-api-contract.js';
import { backendContract, type MakeNodes } from './backend-contract.js';

const makeNodes: MakeNodes = async (count) => {
  const store = new MemoryStore();
  return {
    nodes: Array.from({ length: count }, () => new MemoryBackend(store)),
    cleanup: async () => undefined,
  };
};
backendContract('memory', makeNodes);
backendApiContract('memory', makeNodes);
