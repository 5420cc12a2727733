/**
 * Webhooks (SPEC.md §15) against a real receiver that verifies every delivery with the
 * `standardwebhooks` package: the events of a room in order, signed, once each; and the
 * delivery faults — 500 then 200, a non-retryable 4xx, a receiver down for a while, a
 * receiver that hangs, queue overflow. Each runs with the memory queue and the Redis queue
 * (a real redis-server), through real servers and real WebSocket clients.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Counter } from 'prom-client';
import type { Config } from '../src/config.js';
import { SECRET, sign } from './helpers/jwt.js';
import { RedisServer } from './helpers/redis.js';
import {
  connect,
  join,
  startServer,
  until,
  type TestClient,
  type TestServer,
} from './helpers/server.js';
import { TEST_SECRET, WebhookReceiver, type Delivery } from './helpers/webhook-receiver.js';

let redis: RedisServer;
before(
  async () => {
    redis = await RedisServer.start();
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await redis?.stop();
  },
  { timeout: 60_000 },
);

const room = () => `wh-${randomUUID().slice(0, 8)}`;

async function deliveries(t: TestServer, result: string): Promise<number> {
  const metric = t.server.metrics.registry.getSingleMetric('signaling_webhook_deliveries_total');
  const values = (await (metric as Counter).get()).values;
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

const types = (ds: Delivery[]) => ds.map((d) => d.type);

for (const kind of ['memory', 'redis'] as const) {
  describe(`webhooks, ${kind} queue`, () => {
    const servers: TestServer[] = [];
    const receivers: WebhookReceiver[] = [];
    const clients: TestClient[] = [];

    after(
      async () => {
        for (const c of clients) c.ws.terminate();
        await Promise.all(servers.map((s) => s.close()));
        await Promise.all(receivers.map((r) => r.stop()));
      },
      { timeout: 60_000 },
    );

    async function setup(overrides: Partial<Config> = {}) {
      const receiver = await WebhookReceiver.start();
      receivers.push(receiver);
      const t = await startServer({
        webhookUrls: [receiver.url],
        webhookSecret: TEST_SECRET,
        webhookRetryBaseMs: 20,
        webhookRetryMaxMs: 200,
        // Resume off unless a test turns it on: a lost v2 connection then leaves at once.
        resumeWindowMs: 0,
        ...(kind === 'redis'
          ? { redisUrl: redis.url, redisKeyPrefix: `t${randomUUID().slice(0, 8)}:` }
          : {}),
        ...overrides,
      });
      servers.push(t);
      return { receiver, t };
    }

    async function member(t: TestServer, roomId: string, query?: string) {
      const c = await join(t, roomId, { v: 2, query });
      clients.push(c);
      const welcome = (await c.next()) as { payload: { peerId: string; resumeToken?: string } };
      return Object.assign(c, { id: welcome.payload.peerId, token: welcome.payload.resumeToken });
    }

    test('a room’s events arrive in order, signed, once each, with the SPEC body', async () => {
      const { receiver, t } = await setup();
      const r = room();
      const a = await member(t, r);
      const b = await member(t, r);
      await b.close(); // close frame: cause close
      a.ws.terminate(); // no close frame: cause error
      await receiver.waitFor((x) => x.room(r).length >= 6);
      const events = receiver.room(r);
      assert.deepEqual(types(events), [
        'room.started',
        'peer.joined',
        'peer.joined',
        'peer.left',
        'peer.left',
        'room.finished',
      ]);
      const node = t.server.backend.serverId;
      assert.deepEqual(events[0]!.body.data, { roomId: r, node });
      assert.deepEqual(events[1]!.body.data, { roomId: r, peerId: a.id, node });
      assert.deepEqual(events[2]!.body.data, { roomId: r, peerId: b.id, node });
      assert.deepEqual(events[3]!.body.data, { roomId: r, peerId: b.id, cause: 'close', node });
      assert.deepEqual(events[4]!.body.data, { roomId: r, peerId: a.id, cause: 'error', node });
      assert.deepEqual(events[5]!.body.data, { roomId: r, node });
      for (const e of events) {
        assert.equal(e.body.type, e.type);
        assert.equal(new Date(e.body.timestamp).toISOString(), e.body.timestamp);
        assert.ok(Math.abs(e.timestamp - Date.now() / 1000) < 60, 'webhook-timestamp is now');
        assert.match(e.id, /^msg_[A-Za-z0-9_-]{22}$/);
        assert.equal(e.attempt, 1);
      }
      assert.equal(new Set(events.map((e) => e.id)).size, 6, 'ids are unique per event');
      assert.deepEqual(receiver.invalid, []);
      assert.equal(receiver.requests.length, 6);
      // The receiver records before it answers; the sender counts once the answer is in.
      await until(async () => (await deliveries(t, 'ok')) === 6, 5000, 'ok counted');
      assert.equal(await deliveries(t, 'retry'), 0);
    });

    test('with auth, peer events carry the token’s sub as subject; an expired token leaves with cause token-expired', async () => {
      const { receiver, t } = await setup({
        enableAuth: true,
        jwtSecret: SECRET,
        jwtAlg: ['HS256'],
        jwtClockSkewSeconds: 0,
      });
      const r = room();
      const token = await sign({ sub: 'alice', rooms: [r] }, new TextEncoder().encode(SECRET), {
        expIn: 2,
      });
      const a = await member(t, r, `token=${token}`);
      await a.closed; // closed by the server when the token expires
      await receiver.waitFor((x) => x.room(r).length >= 4, 15_000);
      assert.deepEqual(
        receiver.room(r).map((d) => d.body.data),
        [
          { roomId: r, node: t.server.backend.serverId },
          { roomId: r, peerId: a.id, subject: 'alice', node: t.server.backend.serverId },
          {
            roomId: r,
            peerId: a.id,
            cause: 'token-expired',
            subject: 'alice',
            node: t.server.backend.serverId,
          },
          { roomId: r, node: t.server.backend.serverId },
        ],
      );
    });

    test('resume: a lost v2 peer is not reported as left; its resume is peer.resumed; a window that ends is peer.left resume-expired', async () => {
      const { receiver, t } = await setup({ resumeWindowMs: 1000 });
      const r = room();
      const stay = await member(t, r);
      const lost = await member(t, r);
      lost.ws.terminate(); // no close frame: detached, keeps its place
      const detached = async () =>
        (await t.server.metrics.detachedPeers.get()).values[0]?.value ?? 0;
      await until(async () => (await detached()) === 1, 5000, 'peer detached');
      const back = await connect(t.url, { roomId: r, v: 2, query: `resume=${lost.token}` });
      clients.push(back);
      const welcome = (await back.next()) as { payload: { peerId: string; resumed: boolean } };
      assert.deepEqual([welcome.payload.peerId, welcome.payload.resumed], [lost.id, true]);
      back.ws.terminate(); // detached again; this time its window ends
      await receiver.waitFor((x) => x.room(r).length >= 5, 15_000);
      await stay.close();
      await receiver.waitFor((x) => x.room(r).length >= 7, 15_000);
      assert.deepEqual(
        receiver.room(r).map((d) => [d.type, d.body.data.peerId, d.body.data.cause]),
        [
          ['room.started', undefined, undefined],
          ['peer.joined', stay.id, undefined],
          ['peer.joined', lost.id, undefined],
          ['peer.resumed', lost.id, undefined],
          ['peer.left', lost.id, 'resume-expired'],
          ['peer.left', stay.id, 'close'],
          ['room.finished', undefined, undefined],
        ],
      );
    });

    test('resume: the last member’s window ends: peer.left resume-expired, then room.finished, once', async () => {
      const { receiver, t } = await setup({ resumeWindowMs: 500 });
      const r = room();
      const lost = await member(t, r);
      lost.ws.terminate(); // detached; nobody else is in the room, and its window ends
      await receiver.waitFor((x) => x.room(r).length >= 4, 15_000);
      // The room starts again: in the room's order that comes after any second room.finished.
      const again = await member(t, r);
      await receiver.waitFor((x) => x.room(r).length >= 6, 15_000);
      await again.close();
      await receiver.waitFor((x) => x.room(r).length >= 8, 15_000);
      assert.deepEqual(
        receiver.room(r).map((d) => [d.type, d.body.data.peerId, d.body.data.cause]),
        [
          ['room.started', undefined, undefined],
          ['peer.joined', lost.id, undefined],
          ['peer.left', lost.id, 'resume-expired'],
          ['room.finished', undefined, undefined],
          ['room.started', undefined, undefined],
          ['peer.joined', again.id, undefined],
          ['peer.left', again.id, 'close'],
          ['room.finished', undefined, undefined],
        ],
      );
    });

    test('500 then 200: each event retried with the same id and delivered once', async () => {
      const { receiver, t } = await setup();
      receiver.respond = (d) => (d.attempt === 1 ? 500 : 200);
      const r = room();
      const a = await member(t, r);
      await a.close();
      await receiver.waitFor((x) => x.room(r).length >= 4);
      assert.deepEqual(types(receiver.room(r)), [
        'room.started',
        'peer.joined',
        'peer.left',
        'room.finished',
      ]);
      // Every event: attempt 1 answered 500, attempt 2 (same webhook-id) answered 200.
      assert.deepEqual(
        receiver.requests.map((d) => [d.type, d.attempt, d.accepted]),
        [
          ['room.started', 1, false],
          ['room.started', 2, true],
          ['peer.joined', 1, false],
          ['peer.joined', 2, true],
          ['peer.left', 1, false],
          ['peer.left', 2, true],
          ['room.finished', 1, false],
          ['room.finished', 2, true],
        ],
      );
      for (const d of receiver.accepted) assert.equal(d.attempt, 2);
      assert.deepEqual(receiver.invalid, []);
      assert.equal(await deliveries(t, 'retry'), 4);
      await until(async () => (await deliveries(t, 'ok')) === 4, 5000, 'ok counted');
    });

    test('a 4xx other than 408/429 is not retried; the failure is logged once with id and status', async () => {
      const { receiver, t } = await setup();
      receiver.respond = () => 410;
      const r = room();
      const a = await member(t, r);
      await a.close();
      await until(async () => (await deliveries(t, 'failed')) >= 4, 10_000, 'failures');
      assert.equal(receiver.requests.length, 4, 'one attempt each');
      const failures = t.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'webhook delivery failed');
      assert.deepEqual(
        failures.map((l) => [l.eventId, l.status, l.attempts]).sort(),
        receiver.requests.map((d) => [d.id, 410, 1]).sort(),
      );
      assert.equal(await deliveries(t, 'retry'), 0);
    });

    test('408 and 429 are retried, and attempts stop at WEBHOOK_MAX_ATTEMPTS', async () => {
      const { receiver, t } = await setup({ webhookMaxAttempts: 3 });
      receiver.respond = (d) => (d.attempt % 2 ? 429 : 408);
      const r = room();
      const a = await member(t, r);
      await a.close();
      await until(async () => (await deliveries(t, 'failed')) >= 4, 10_000, 'failures');
      assert.equal(receiver.requests.length, 12);
      for (const id of new Set(receiver.requests.map((d) => d.id)))
        assert.deepEqual(
          receiver.requests.filter((d) => d.id === id).map((d) => d.attempt),
          [1, 2, 3],
        );
      assert.equal(await deliveries(t, 'retry'), 8);
    });

    test('receiver down for a while: events stay queued and arrive, in order, once it is back', async () => {
      const { receiver, t } = await setup({ webhookMaxAttempts: 100 });
      await receiver.stop();
      const r = room();
      const a = await member(t, r);
      await a.close();
      await until(async () => (await deliveries(t, 'retry')) >= 3, 10_000, 'failed attempts');
      assert.equal(receiver.requests.length, 0);
      await receiver.restart();
      await receiver.waitFor((x) => x.room(r).length >= 4);
      assert.deepEqual(types(receiver.room(r)), [
        'room.started',
        'peer.joined',
        'peer.left',
        'room.finished',
      ]);
      assert.equal(receiver.requests.length, 4, 'each delivered once');
      assert.deepEqual(receiver.invalid, []);
    });

    test('receiver hangs: the attempt times out and is retried with the same id', async () => {
      const { receiver, t } = await setup({ webhookTimeoutMs: 300 });
      receiver.respond = (d) => (d.attempt === 1 ? 'hang' : 204);
      const r = room();
      await member(t, r);
      await receiver.waitFor((x) => x.room(r).length >= 2);
      assert.deepEqual(
        receiver.requests.map((d) => [d.type, d.attempt, d.accepted]),
        [
          ['room.started', 1, false],
          ['room.started', 2, true],
          ['peer.joined', 1, false],
          ['peer.joined', 2, true],
        ],
      );
      assert.equal(receiver.requests[0]!.id, receiver.requests[1]!.id);
      assert.equal(await deliveries(t, 'retry'), 2);
    });

    test('a room whose delivery hangs does not hold other rooms; its own events wait in order', async () => {
      const { receiver, t } = await setup({ webhookTimeoutMs: 30_000 });
      const slow = room();
      const fast = room();
      receiver.respond = (d) =>
        d.body.data.roomId === slow && d.type === 'room.started' && d.attempt === 1 ? 'hang' : 204;
      await member(t, slow);
      await receiver.waitFor((x) => x.requests.length === 1, 15_000, 'slow room attempted');
      await member(t, slow);
      const f = await member(t, fast);
      await f.close();
      await receiver.waitFor((x) => x.room(fast).length >= 4);
      assert.deepEqual(types(receiver.room(fast)), [
        'room.started',
        'peer.joined',
        'peer.left',
        'room.finished',
      ]);
      // Meanwhile only the slow room's first event was attempted.
      assert.deepEqual(
        receiver.requests.filter((d) => d.body.data.roomId === slow).map((d) => d.type),
        ['room.started'],
      );
      // End the hung attempt: it is retried, then the room's events follow in order.
      await receiver.stop();
      await receiver.restart();
      await receiver.waitFor((x) => x.room(slow).length >= 3);
      assert.deepEqual(types(receiver.room(slow)), ['room.started', 'peer.joined', 'peer.joined']);
    });

    test('graceful shutdown: peer.left (cause shutdown) and room.finished still arrive', async () => {
      const prefix = `t${randomUUID().slice(0, 8)}:`;
      const { receiver, t } = await setup({ redisKeyPrefix: prefix });
      // With Redis another node delivers what the closing node queued: it gives up the lead.
      const other =
        kind === 'redis'
          ? await startServer({
              webhookUrls: [receiver.url],
              webhookSecret: TEST_SECRET,
              redisUrl: redis.url,
              redisKeyPrefix: prefix,
            })
          : undefined;
      if (other) servers.push(other);
      const r = room();
      const a = await member(t, r);
      await receiver.waitFor((x) => x.room(r).length >= 2);
      await t.close();
      await a.closed;
      await receiver.waitFor((x) => x.room(r).length >= 4);
      assert.deepEqual(
        receiver.room(r).map((d) => [d.type, d.body.data.cause]),
        [
          ['room.started', undefined],
          ['peer.joined', undefined],
          ['peer.left', 'shutdown'],
          ['room.finished', undefined],
        ],
      );
      assert.equal(receiver.requests.length, 4);
    });

    test('queue overflow drops the oldest waiting events, counted; the rest arrive', async () => {
      const { receiver, t } = await setup({ webhookQueueMax: 3, webhookTimeoutMs: 30_000 });
      receiver.respond = (d) => (d.attempt === 1 && d.type === 'room.started' ? 'hang' : 204);
      const r = room();
      await member(t, r);
      await receiver.waitFor((x) => x.requests.length === 1, 15_000, 'first attempt in flight');
      const later: string[] = [];
      for (let i = 0; i < 9; i++) later.push((await member(t, r)).id);
      // 11 events for a bound of 3: room.started is being attempted (never dropped), so of
      // the 10 peer.joined behind it the oldest 8 go.
      await until(async () => (await deliveries(t, 'dropped')) >= 8, 10_000, 'drops');
      assert.equal(await deliveries(t, 'dropped'), 8);
      // The hung attempt times out only after 30 s: end it now by dropping its connection.
      await receiver.stop();
      await receiver.restart();
      await receiver.waitFor((x) => x.accepted.length >= 3);
      assert.deepEqual(
        receiver.accepted.map((d) => [d.type, d.body.data.peerId]),
        [
          ['room.started', undefined],
          ['peer.joined', later[7]],
          ['peer.joined', later[8]],
        ],
      );
      assert.equal(await deliveries(t, 'dropped'), 8);
    });
  });
}
