/**
 * Backend test doubles for admission paths that a healthy in-memory backend cannot reach
 * (an open circuit, a failing or slow join). They extend the real MemoryBackend and change
 * one behaviour each; everything else is the real implementation.
 */
import { MemoryBackend } from '../../src/backend/memory.js';
import type { JoinResult } from '../../src/backend/backend.js';

export class OpenCircuitBackend extends MemoryBackend {
  override get circuitOpen(): boolean {
    return true;
  }
}

export class FailingJoinBackend extends MemoryBackend {
  override async join(): Promise<JoinResult> {
    throw new Error('backend down');
  }
}

/** While `hold` is set, joins wait until `release()`. */
export class GatedJoinBackend extends MemoryBackend {
  hold = false;
  joinsWaiting = 0;
  private waiters: (() => void)[] = [];
  override async join(roomId: string, clientId: string, capacity: number): Promise<JoinResult> {
    if (this.hold) {
      this.joinsWaiting++;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.joinsWaiting--;
    }
    return super.join(roomId, clientId, capacity);
  }
  release(): void {
    this.hold = false;
    for (const w of this.waiters.splice(0)) w();
  }
}
