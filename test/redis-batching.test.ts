/**
 * Batched envelopes on a real redis-server (SPEC.md §5): what one node publishes for one room in
 * one event-loop turn leaves as one PUBLISH of a JSON array, in order; receivers take arrays and
 * single objects alike, from anyone; a bad element is dropped alone; own publications are
 * never delivered back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Envelope } from '../src/backend/backend.js';
import { RedisBackend } from '../src/backend/redis.js';
import { createMetrics } from '../src/metrics.js';
import { RedisServer } from './helpers/redis.js';
import { TEST_CONFIG, until } from './helpers/server.js';

let redis: RedisServer;
let admin: Redis;
let listener: Redis;
let a: RedisBackend;
let b: RedisBackend;
const inbox = { a: [] as Envelope[], b: [] as Envelope[] };
/** Raw payloads seen on the room channel by a plain subscriber. */
const seen: string[] = [];
const prefix = `batch-${randomUUID().slice(0, 6)}:`;
const ROOM = 'r';
const channel = `${prefix}room:${ROOM}`;

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    listener = redis.client();
    await listener.subscribe(channel);
    listener.on('message', (_c: string, m: string) => seen.push(m));
    const make = () =>
      new RedisBackend(
        { ...TEST_CONFIG, redisUrl: redis.url, redisKeyPrefix: prefix },
        pino({ level: 'silent' }),
        createMetrics(new Registry(), false),
      );
    [a, b] = [make(), make()];
    await a.start({ onEnvelope: (_r, e) => inbox.a.push(e) });
    await b.start({ onEnvelope: (_r, e) => inbox.b.push(e) });
    a.subscribe(ROOM);
    b.subscribe(ROOM);
    // Both nodes and the listener are subscribed.
    await until(async () => ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1] === 3);
  },
  { timeout: 60_000 },
);

after(
  async () => {
    await Promise.all([a?.close(), b?.close()]);
    listener?.disconnect();
    admin?.disconnect();
    await redis?.stop();
  },
  { timeout: 60_000 },
);

const candidate = (sender: string, i: number, origin: string): Envelope => ({
  senderId: sender,
  data: { type: 'candidate', candidate: `c${i}` },
  originServerId: origin,
});

test('the envelopes of one turn go out as one PUBLISH of a JSON array, in order, exactly once', async () => {
  seen.length = 0;
  inbox.b.length = 0;
  for (let i = 0; i < 20; i++) a.publish(ROOM, candidate('x', i, a.serverId));
  await until(() => inbox.b.length >= 20 && seen.length >= 1);
  assert.deepEqual(
    inbox.b.map((e) => (e.data as { candidate: string }).candidate),
    Array.from({ length: 20 }, (_, i) => `c${i}`),
  );
  assert.equal(seen.length, 1, 'one PUBLISH');
  const payload = JSON.parse(seen[0]!) as Envelope[];
  assert.ok(Array.isArray(payload));
  assert.deepEqual(
    payload,
    Array.from({ length: 20 }, (_, i) => candidate('x', i, a.serverId)),
  );
  // Exactly once: a later marker arrives after nothing else, and a never hears itself.
  a.publish(ROOM, candidate('x', 99, a.serverId));
  await until(() => inbox.b.length === 21);
  assert.equal((inbox.b[20]!.data as { candidate: string }).candidate, 'c99');
  assert.deepEqual(inbox.a, []);
});

test("the sender's own text of the data travels as is, and decodes to the same message", async () => {
  seen.length = 0;
  inbox.b.length = 0;
  const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"quoted" é' };
  // As a browser writes it, with JSON whitespace the re-serialized form would not have.
  const text = `{ "type": "offer", "sdp": ${JSON.stringify(offer.sdp)} }`;
  const envelope: Envelope = {
    senderId: 'x',
    data: offer as Envelope['data'],
    originServerId: a.serverId,
  };
  a.publish(ROOM, envelope, text);
  await until(() => inbox.b.length === 1 && seen.length === 1);
  assert.ok(seen[0]!.endsWith(`,"data":${text}}`), 'the text is the payload, byte for byte');
  assert.deepEqual(inbox.b[0]!.data, offer);
  assert.deepEqual(JSON.parse(seen[0]!), { ...envelope });
});

test('a lone envelope of a room goes out as a plain object, beside another room', async () => {
  seen.length = 0;
  inbox.b.length = 0;
  a.publish(ROOM, candidate('x', 1, a.serverId));
  a.publish('other-room', candidate('x', 2, a.serverId));
  await until(() => inbox.b.length === 1 && seen.length === 1);
  assert.deepEqual(JSON.parse(seen[0]!), candidate('x', 1, a.serverId));
});

test('arrays and single objects from outside are accepted in order; a bad element is dropped alone', async () => {
  inbox.a.length = 0;
  inbox.b.length = 0;
  const outside = 'server:outside';
  await admin.publish(
    channel,
    JSON.stringify([candidate('o', 1, outside), { senderId: 7 }, candidate('o', 2, outside)]),
  );
  await admin.publish(channel, JSON.stringify(candidate('o', 3, outside)));
  await admin.publish(channel, '[not json');
  await admin.publish(channel, JSON.stringify(candidate('o', 4, outside)));
  await until(() => inbox.b.length >= 4 && inbox.a.length >= 4);
  for (const box of [inbox.a, inbox.b])
    assert.deepEqual(
      box.map((e) => (e.data as { candidate: string }).candidate),
      ['c1', 'c2', 'c3', 'c4'],
    );
});

test("an array carrying a node's own envelopes is not delivered back to it", async () => {
  inbox.a.length = 0;
  inbox.b.length = 0;
  // Written by hand with the fields in another order: recognized after parsing.
  await admin.publish(
    channel,
    JSON.stringify([
      { data: { type: 'candidate', candidate: 'c5' }, originServerId: a.serverId, senderId: 'x' },
    ]),
  );
  await admin.publish(channel, JSON.stringify(candidate('o', 6, 'server:outside')));
  await until(() => inbox.a.length === 1 && inbox.b.length === 2);
  assert.equal((inbox.a[0]!.data as { candidate: string }).candidate, 'c6');
});

test('broadcast and directed envelopes of one turn keep their order across the two channels', async () => {
  const room = 'mixed';
  await b.join(room, 'pb', 10);
  b.subscribe(room);
  await a.join(room, 'pa', 10); // a learns that pb is on b: directed messages go to b's channel
  a.subscribe(room);
  const roomChannel = `${prefix}room:mixed`;
  const bDirect = `{${prefix}room:mixed}:to:${b.serverId}`;
  await until(async () => {
    const n = (await admin.pubsub('NUMSUB', roomChannel, bDirect)) as (string | number)[];
    return n[1] === 2 && n[3] === 1;
  });
  assert.ok(a.knowsPeer(room, 'pb'), "a routes pb's directed messages to b's node channel");
  inbox.b.length = 0;
  const msg = (i: number, to?: string): Envelope => ({
    ...candidate('pa', i, a.serverId),
    ...(to === undefined ? {} : { to }),
  });
  a.publish(room, msg(0));
  a.publish(room, msg(1));
  a.publish(room, msg(2, 'pb'));
  a.publish(room, msg(3));
  a.publish(room, msg(4, 'pb'));
  a.publish(room, msg(5, 'pb'));
  // b's subscription reconcile may deliver pa's join (a membership event, not a message) at any
  // point of this test, depending on whether its HGETALL ran before or after a's join: the
  // order under test is that of the messages.
  const messages = () => inbox.b.filter((e) => e.event === undefined);
  await until(() => messages().length >= 6);
  assert.deepEqual(
    messages().map((e) => [(e.data as { candidate: string }).candidate, e.to]),
    [
      ['c0', undefined],
      ['c1', undefined],
      ['c2', 'pb'],
      ['c3', undefined],
      ['c4', 'pb'],
      ['c5', 'pb'],
    ],
  );
  await Promise.all([a.leave(room, 'pa'), b.leave(room, 'pb')]);
});
