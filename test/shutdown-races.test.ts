/**
 * Admission races (issue 10 §3): a join still in flight when shutdown begins is undone before
 * the backend closes (real Redis: no ghost member left behind), and a room recreated while a
 * join awaits cannot push the node past MAX_ROOMS.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MemoryBackend } from '../src/backend/memory.js';
import type { JoinResult } from '../src/backend/backend.js';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { RedisServer } from './helpers/redis.js';
import { connect, join, startServer, until, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });

test('a join in flight at shutdown is undone before the backend closes (real Redis)', async () => {
  const redis = await RedisServer.start();
  const admin = redis.client();
  const redisPid = (redis as unknown as { proc: { pid: number } }).proc.pid;
  try {
    const t = await startServer({ redisUrl: redis.url, drainTimeoutMs: 3000 });
    // Redis stops answering: the next join is written and waits for its reply.
    process.kill(redisPid, 'SIGSTOP');
    const late = await connect(t.url, { roomId: 'ghost-b' });
    await until(() => t.server.connectionCount === 1);
    // Redis answers the join once the backend is being closed, or 500 ms into the drain,
    // whichever comes first: either way the reply arrives after draining began.
    const backend = t.server.backend;
    const close = backend.close.bind(backend);
    const resume = () => process.kill(redisPid, 'SIGCONT');
    backend.close = () => {
      resume();
      return close();
    };
    const closing = t.server.close();
    const timer = setTimeout(resume, 500);
    await closing;
    clearTimeout(timer);
    assert.deepEqual(await late.closed, Close.goingAway);
    assert.deepEqual(await admin.smembers('room:ghost-b'), [], 'no ghost left by the late join');
  } finally {
    try {
      process.kill(redisPid, 'SIGCONT');
    } catch {
      // already stopped
    }
    admin.disconnect();
    await redis.stop();
  }
});

/** Joins to `held` wait until release(); every other room joins at once. */
class HeldRoomBackend extends MemoryBackend {
  waiting = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly held: string) {
    super();
  }
  override async join(roomId: string, clientId: string, capacity: number): Promise<JoinResult> {
    if (roomId === this.held) {
      this.waiting++;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.waiting--;
    }
    return super.join(roomId, clientId, capacity);
  }
  release(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

test('a room recreated while a join awaits is held to MAX_ROOMS', async () => {
  const backend = new HeldRoomBackend('held');
  const t = await startServer({ maxRooms: 2 }, { backend });
  servers.push(t);
  // "held" exists when the late join begins, so that join reserves no new room...
  const first = await connect(t.url, { roomId: 'held' });
  await until(() => backend.waiting === 1);
  backend.release();
  await until(() => t.server.hub.get('held')?.peers.size === 1);
  const late = await connect(t.url, { roomId: 'held' });
  await until(() => backend.waiting === 1);
  // ...then its last member leaves and two other rooms take both slots.
  await first.close();
  await until(() => t.server.hub.get('held') === undefined);
  const x = await join(t, 'other-1');
  const y = await join(t, 'other-2');
  assert.equal(t.server.hub.rooms.size, 2);
  backend.release();
  assert.deepEqual(await admission(t, late), Close.tooManyRooms);
  assert.equal(t.server.hub.rooms.size, 2);
  assert.deepEqual(await backend.members('held'), [], 'the refused join was undone');
  await x.close();
  await y.close();
});
