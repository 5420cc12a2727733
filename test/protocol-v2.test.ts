/**
 * Protocol v2 (SPEC.md §4) on the memory backend: welcome, peer-joined, peer-disconnected with
 * peerId, server-stamped `from`, directed `to`, unknown-peer, and v1/v2 clients in one room.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  expectSilence,
  join,
  startServer,
  type TestClient,
  type TestServer,
} from './helpers/server.js';

let t: TestServer;
before(
  async () => {
    t = await startServer();
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

interface Welcome {
  type: 'control';
  action: 'welcome';
  payload: { peerId: string; roomId: string; peers: string[] };
}

/** Join as a v2 client and return it with its welcome (the first frame it receives). */
async function joinV2(roomId: string): Promise<{ c: TestClient; id: string; welcome: Welcome }> {
  const c = await join(t, roomId, { v: 2 });
  const welcome = (await c.next()) as Welcome;
  assert.equal(welcome.type, 'control');
  assert.equal(welcome.action, 'welcome');
  return { c, id: welcome.payload.peerId, welcome };
}

test('welcome carries own id, the room and the members already there', async () => {
  const a = await joinV2('v2-welcome');
  assert.match(a.id, /^client:[0-9a-f-]{36}$/);
  const { resumeToken, ...rest } = a.welcome.payload as { resumeToken?: string };
  assert.deepEqual(rest, { peerId: a.id, roomId: 'v2-welcome', peers: [] });
  assert.equal(typeof resumeToken, 'string'); // SPEC.md §13
  const b = await joinV2('v2-welcome');
  assert.deepEqual(b.welcome.payload.peers, [a.id]);
  assert.equal(b.welcome.payload.roomId, 'v2-welcome');
  assert.notEqual(b.id, a.id);
  // a learns of b, b is not told about itself
  assert.deepEqual(await a.c.next(), {
    type: 'control',
    action: 'peer-joined',
    payload: { peerId: b.id },
  });
  await expectSilence(b.c, 100);
  await a.c.close();
  await b.c.close();
});

test('peer-disconnected names the peer that left', async () => {
  const a = await joinV2('v2-leave');
  const b = await joinV2('v2-leave');
  await a.c.next(); // peer-joined b
  await b.c.close();
  assert.deepEqual(await a.c.next(), { type: 'peer-disconnected', peerId: b.id });
  await a.c.close();
});

test('from is stamped by the server and cannot be forged', async () => {
  const a = await joinV2('v2-from');
  const b = await joinV2('v2-from');
  await a.c.next(); // peer-joined b
  a.c.send({ type: 'offer', sdp: 'v=0', from: 'client:forged' });
  assert.deepEqual(await b.c.next(), { type: 'offer', sdp: 'v=0', from: a.id });
  a.c.send({ type: 'control', action: 'hello', payload: { x: 1 }, from: b.id });
  assert.deepEqual(await b.c.next(), {
    type: 'control',
    action: 'hello',
    payload: { x: 1 },
    from: a.id,
  });
  b.c.send({ type: 'candidate', candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 });
  assert.deepEqual(await a.c.next(), {
    type: 'candidate',
    candidate: 'c',
    sdpMid: '0',
    sdpMLineIndex: 0,
    from: b.id,
  });
  await a.c.close();
  await b.c.close();
});

test('a directed message reaches exactly its target', async () => {
  const a = await joinV2('v2-to');
  const b = await joinV2('v2-to');
  const c = await joinV2('v2-to');
  await a.c.next(); // peer-joined b
  await a.c.next(); // peer-joined c
  await b.c.next(); // peer-joined c
  a.c.send({ type: 'offer', sdp: 'for-c', to: c.id });
  assert.deepEqual(await c.c.next(), { type: 'offer', sdp: 'for-c', from: a.id });
  await expectSilence(b.c, 150);
  await expectSilence(a.c, 0);
  // an undirected message still reaches everyone else
  a.c.send({ type: 'answer', sdp: 'all' });
  assert.deepEqual(await b.c.next(), { type: 'answer', sdp: 'all', from: a.id });
  assert.deepEqual(await c.c.next(), { type: 'answer', sdp: 'all', from: a.id });
  for (const p of [a, b, c]) await p.c.close();
});

test('a `to` naming a peer outside the room gets unknown-peer and reaches nobody', async () => {
  const a = await joinV2('v2-unknown-a');
  const b = await joinV2('v2-unknown-a');
  const other = await joinV2('v2-unknown-b');
  await a.c.next(); // peer-joined b
  a.c.send({ type: 'offer', sdp: 'x', to: other.id });
  assert.deepEqual(await a.c.next(), { type: 'control', action: 'unknown-peer' });
  a.c.send({ type: 'offer', sdp: 'x', to: 'client:00000000-0000-0000-0000-000000000000' });
  assert.deepEqual(await a.c.next(), { type: 'control', action: 'unknown-peer' });
  await expectSilence(other.c, 150);
  await expectSilence(b.c, 0);
  // `to` must be a non-empty string
  a.c.send({ type: 'offer', sdp: 'x', to: 42 });
  assert.deepEqual(await a.c.next(), { type: 'control', action: 'schema-error' });
  for (const p of [a, b, other]) await p.c.close();
});

test('v1 and v2 clients share a room, each gets its own shape', async () => {
  const v1 = await join(t, 'v2-mixed');
  const v2 = await joinV2('v2-mixed');
  assert.equal(v2.welcome.payload.peers.length, 1);
  const v1Id = v2.welcome.payload.peers[0]!;
  const w = await joinV2('v2-mixed');
  await v2.c.next(); // peer-joined w
  // v1 receives no welcome or peer-joined: nothing new to its shape
  await expectSilence(v1, 100);

  v1.send({ type: 'offer', sdp: 'from-v1', from: 'forged' });
  assert.deepEqual(await v2.c.next(), { type: 'offer', sdp: 'from-v1', from: v1Id });
  assert.deepEqual(await w.c.next(), { type: 'offer', sdp: 'from-v1', from: v1Id });

  v2.c.send({ type: 'answer', sdp: 'from-v2' });
  assert.deepEqual(await v1.next(), { type: 'answer', sdp: 'from-v2' });
  assert.deepEqual(await w.c.next(), { type: 'answer', sdp: 'from-v2', from: v2.id });

  // a v2 client may direct a message to a v1 peer: it arrives in the v1 shape
  v2.c.send({ type: 'control', action: 'ping', to: v1Id });
  assert.deepEqual(await v1.next(), { type: 'control', action: 'ping' });
  await expectSilence(w.c, 100);

  // leave: v1 sees the v1 shape, v2 the v2 shape
  await w.c.close();
  assert.deepEqual(await v1.next(), { type: 'peer-disconnected' });
  assert.deepEqual(await v2.c.next(), { type: 'peer-disconnected', peerId: w.id });
  await v1.close();
  assert.deepEqual(await v2.c.next(), { type: 'peer-disconnected', peerId: v1Id });
  await v2.c.close();
});

test('v1 unchanged: a `to` from a v1 client is ignored and the message is broadcast', async () => {
  const a = await join(t, 'v1-only');
  const b = await join(t, 'v1-only');
  const c = await join(t, 'v1-only');
  a.send({ type: 'offer', sdp: 'v=0', to: 'client:nobody', from: 'x' });
  assert.deepEqual(await b.next(), { type: 'offer', sdp: 'v=0' });
  assert.deepEqual(await c.next(), { type: 'offer', sdp: 'v=0' });
  await expectSilence(a, 100);
  await c.close();
  assert.deepEqual(await a.next(), { type: 'peer-disconnected' });
  assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
  await a.close();
  await b.close();
});
