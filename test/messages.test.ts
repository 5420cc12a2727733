/**
 * SPEC.md §2: shapes, normalization, schema-error, silent drops, size limits, forwarding
 * exactly once and in order, binary frames, peer-disconnected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { join, startServer, until, type TestClient, type TestServer } from './helpers/server.js';

let t: TestServer;
let room = 0;
before(
  async () => {
    t = await startServer({ messageMaxBytes: 1024, maxFrameBytes: 4096 });
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

/** Two admitted peers in a fresh room. */
async function pair(): Promise<[TestClient, TestClient, string]> {
  const id = `m${++room}`;
  return [await join(t, id), await join(t, id), id];
}

/** Send a marker and wait for it: everything sent before it has been handled. */
async function flush(from: TestClient, to: TestClient): Promise<void> {
  const marker = { type: 'control', action: `flush-${Math.random()}` };
  from.send(marker);
  assert.deepEqual(await to.next(), marker);
}

describe('message shapes', () => {
  test('each shape is forwarded normalized, unknown fields dropped', async () => {
    const [a, b] = await pair();
    const cases: [unknown, unknown][] = [
      [
        { type: 'offer', sdp: 'v=0\r\n' },
        { type: 'offer', sdp: 'v=0\r\n' },
      ],
      [
        { type: 'answer', sdp: 's', x: 1, from: 'forged' },
        { type: 'answer', sdp: 's' },
      ],
      [
        {
          type: 'candidate',
          candidate: 'candidate:1 1 udp',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: 'u',
        },
        { type: 'candidate', candidate: 'candidate:1 1 udp', sdpMid: '0', sdpMLineIndex: 0 },
      ],
      [
        { type: 'candidate', candidate: 'c' },
        { type: 'candidate', candidate: 'c' },
      ],
      [
        { type: 'control', action: 'mute' },
        { type: 'control', action: 'mute' },
      ],
      [
        {
          type: 'control',
          action: 'state',
          payload: { a: [1, null, 'x'], b: { c: true } },
          to: 'x',
        },
        { type: 'control', action: 'state', payload: { a: [1, null, 'x'], b: { c: true } } },
      ],
      [
        { type: 'control', action: 'nil', payload: null },
        { type: 'control', action: 'nil', payload: null },
      ],
      [
        { sdp: 'reordered', type: 'offer' },
        { sdp: 'reordered', type: 'offer' },
      ],
    ];
    for (const [sent, expected] of cases) {
      a.send(sent);
      assert.deepEqual(await b.next(), expected);
    }
    // Whitespace in the sender's text does not matter to the receiver.
    a.send('  {"type" : "offer", "sdp":"spaced"}  ');
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'spaced' });
    await a.close();
    await b.close();
  });

  test('JSON that matches no shape → exactly {"type":"control","action":"schema-error"} to the sender only, each counted once', async () => {
    const [a, b] = await pair();
    // Other tests share this server and count rejects too: compare with this test's start.
    const rejects = async () => (await t.server.metrics.schemaRejects.get()).values[0]?.value ?? 0;
    const rejectsBefore = await rejects();
    const invalid: unknown[] = [
      {},
      [],
      'str',
      42,
      null,
      { type: 'offer' },
      { type: 'offer', sdp: '' },
      { type: 'offer', sdp: 5 },
      { type: 'answer', sdp: null },
      { type: 'candidate' },
      { type: 'candidate', candidate: '' },
      { type: 'candidate', candidate: 'c', sdpMid: 1 },
      { type: 'candidate', candidate: 'c', sdpMLineIndex: -1 },
      { type: 'candidate', candidate: 'c', sdpMLineIndex: 1.5 },
      { type: 'candidate', candidate: 'c', sdpMLineIndex: '1' },
      { type: 'control' },
      { type: 'control', action: '' },
      { type: 'control', action: 7 },
      { type: 'peer-disconnected' },
      { type: 'OFFER', sdp: 'x' },
    ];
    for (const msg of invalid) {
      a.ws.send(JSON.stringify(msg));
      const reply = await a.next();
      assert.deepEqual(reply, { type: 'control', action: 'schema-error' }, JSON.stringify(msg));
    }
    // Exactly that text, byte for byte.
    const raw = new Promise<string>((resolve) =>
      a.ws.once('message', (d) => resolve(d.toString())),
    );
    a.send({ type: 'nope' });
    assert.equal(await raw, '{"type":"control","action":"schema-error"}');
    await a.next();
    await flush(a, b); // b received none of the invalid messages
    assert.equal((await rejects()) - rejectsBefore, invalid.length + 1);
    await a.close();
    await b.close();
  });

  test('a frame that is not JSON is dropped silently; the connection stays open', async () => {
    const [a, b] = await pair();
    for (const junk of ['not json', '{"type":"offer"', '', '\u0000', '{}{}']) a.ws.send(junk);
    await flush(a, b);
    assert.equal(a.buffered.length, 0, 'no reply to the sender');
    await a.close();
    await b.close();
  });

  test('binary frames are decoded as UTF-8 text and treated the same way', async () => {
    const [a, b] = await pair();
    a.ws.send(Buffer.from(JSON.stringify({ type: 'offer', sdp: 'bin' })), { binary: true });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'bin' });
    // Received as a text frame.
    const isBinary = new Promise<boolean>((resolve) =>
      b.ws.once('message', (_d, bin) => resolve(bin)),
    );
    a.ws.send(Buffer.from('{"type":"answer","sdp":"bin2"}'), { binary: true });
    assert.equal(await isBinary, false);
    await b.next();
    a.ws.send(Buffer.from('{"type":"x"}'), { binary: true });
    assert.deepEqual(await a.next(), { type: 'control', action: 'schema-error' });
    // Invalid UTF-8 inside a binary frame: forwarded as valid UTF-8 text (replacement char).
    a.ws.send(
      Buffer.concat([
        Buffer.from('{"type":"offer","sdp":"'),
        Buffer.from([0xff]),
        Buffer.from('"}'),
      ]),
      {
        binary: true,
      },
    );
    assert.deepEqual(await b.next(), { type: 'offer', sdp: '\ufffd' });
    await a.close();
    await b.close();
  });
});

describe('size limits', () => {
  test('larger than MESSAGE_MAX_BYTES: dropped silently, connection kept', async () => {
    const [a, b] = await pair();
    const exact = JSON.stringify({ type: 'offer', sdp: 'x'.repeat(1024 - 25) });
    assert.equal(Buffer.byteLength(exact), 1024);
    a.ws.send(JSON.stringify({ type: 'offer', sdp: 'x'.repeat(1024) }));
    a.ws.send(exact);
    assert.deepEqual(await b.next(), JSON.parse(exact));
    assert.equal(a.buffered.length, 0);
    assert.equal(a.ws.readyState, a.ws.OPEN);
    await a.close();
    await b.close();
  });

  test('larger than MAX_FRAME_BYTES: closed with 1009 "Message too big"', async () => {
    const [a, b] = await pair();
    a.ws.send('x'.repeat(4097));
    assert.deepEqual(await a.closed, Close.messageTooBig);
    assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
    await b.close();
  });
});

describe('forwarding', () => {
  test('to every other member exactly once, in send order, never back to the sender', async () => {
    const id = `fan${++room}`;
    const peers = await Promise.all([1, 2, 3, 4].map(() => join(t, id)));
    await until(() => t.server.hub.get(id)?.peers.size === 4);
    const [s, ...receivers] = peers as [TestClient, ...TestClient[]];
    const n = 50;
    for (let i = 0; i < n; i++) s.send({ type: 'control', action: 'seq', payload: i });
    const end = { type: 'control', action: 'end' };
    s.send(end);
    for (const r of receivers) {
      for (let i = 0; i < n; i++)
        assert.deepEqual(await r.next(), { type: 'control', action: 'seq', payload: i });
      assert.deepEqual(await r.next(), end);
    }
    // The sender got nothing back; a message from another peer reaches it, proving it listens.
    receivers[0]!.send({ type: 'control', action: 'back' });
    assert.deepEqual(await s.next(), { type: 'control', action: 'back' });
    assert.equal(s.buffered.length, 0);
    await Promise.all(peers.map((p) => p.close()));
  });

  test('peer-disconnected reaches every remaining peer when one leaves', async () => {
    const id = `leave${++room}`;
    const [a, b, c] = [await join(t, id), await join(t, id), await join(t, id)];
    a.ws.terminate(); // abrupt close (no close frame): handled as a leave too
    assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
    assert.deepEqual(await c.next(), { type: 'peer-disconnected' });
    await b.close();
    assert.deepEqual(await c.next(), { type: 'peer-disconnected' });
    await c.close();
    await until(() => t.server.hub.get(id) === undefined, 2000, 'room removed');
  });
});
