/**
 * Hostile frames on a real server: each has a defined outcome, and the server keeps serving
 * other clients afterwards. Limits here: MESSAGE_MAX_BYTES 256 KiB, MAX_FRAME_BYTES 512 KiB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { MAX_PAYLOAD_DEPTH, SCHEMA_ERROR_REPLY } from '../src/protocol/message.js';
import { FrameReader, Opcode, clientFrame, rawUpgrade } from './helpers/raw-ws.js';
import {
  expectSilence,
  join,
  startServer,
  type TestClient,
  type TestServer,
} from './helpers/server.js';

const MSG_MAX = 256 * 1024;
const FRAME_MAX = 512 * 1024;
const SCHEMA_ERROR = JSON.parse(SCHEMA_ERROR_REPLY) as unknown;

let t: TestServer;
let room = 0;
before(
  async () => {
    t = await startServer({ messageMaxBytes: MSG_MAX, maxFrameBytes: FRAME_MAX });
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

/** A fresh attacker a, observer b (v1) and observer c (v2) in a fresh room. */
async function trio(): Promise<{ a: TestClient; b: TestClient; c: TestClient; roomId: string }> {
  const roomId = `h-${++room}`;
  const a = await join(t, roomId);
  const b = await join(t, roomId);
  const c = await join(t, roomId, { v: 2 });
  await c.next(); // welcome
  return { a, b, c, roomId };
}

/** The server still admits and forwards for other clients. */
async function assertServing(): Promise<void> {
  const roomId = `ok-${++room}`;
  const x = await join(t, roomId);
  const y = await join(t, roomId);
  x.send({ type: 'offer', sdp: 'still serving' });
  assert.deepEqual(await y.next(), { type: 'offer', sdp: 'still serving' });
  await x.close();
  await y.close();
}

async function done(...clients: TestClient[]): Promise<void> {
  for (const c of clients) if (c.ws.readyState === WebSocket.OPEN) await c.close();
  await assertServing();
}

describe('encoding', () => {
  test('invalid UTF-8 in a text frame closes 1007; peers are told', async () => {
    const { a, b, c } = await trio();
    a.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    assert.equal((await a.closed).code, 1007);
    assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
    assert.equal(((await c.next()) as { type: string }).type, 'peer-disconnected');
    await done(b, c);
  });

  test('binary frames are read as UTF-8 text: JSON forwarded as text, invalid bytes replaced', async () => {
    const { a, b, c } = await trio();
    a.ws.send(Buffer.from('{"type":"offer","sdp":"bin"}'), { binary: true });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'bin' });
    await c.next();
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
    await c.next();
    a.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true }); // not JSON: dropped silently
    await expectSilence(a, 100);
    await expectSilence(b, 0);
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    await done(a, b, c);
  });
});

describe('JSON structure', () => {
  test('100k levels of nesting: schema-error, never a crash', async () => {
    const { a, b, c } = await trio();
    const n = 100_000;
    const deep = '['.repeat(n) + ']'.repeat(n);
    for (const text of [
      deep,
      `{"type":"control","action":"x","payload":${deep}}`,
      `{"type":"control","action":"x","payload":${deep},"extra":1}`,
      `{"type":"control","action":"x","payload":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
    ]) {
      assert.ok(text.length <= MSG_MAX);
      a.send(text);
      assert.deepEqual(await a.next(), SCHEMA_ERROR);
    }
    await expectSilence(b, 50);
    await expectSilence(c, 0);
    await done(a, b, c);
  });

  test(`payload nesting up to ${MAX_PAYLOAD_DEPTH} levels is forwarded; one more is refused`, async () => {
    const { a, b, c } = await trio();
    const nest = (d: number) => '['.repeat(d) + ']'.repeat(d);
    a.send(`{"type":"control","action":"x","payload":${nest(MAX_PAYLOAD_DEPTH)},"extra":1}`);
    const got = (await b.next()) as { payload: unknown };
    assert.equal(JSON.stringify(got.payload), nest(MAX_PAYLOAD_DEPTH));
    assert.equal(
      JSON.stringify(((await c.next()) as { payload: unknown }).payload),
      nest(MAX_PAYLOAD_DEPTH),
    );
    a.send(`{"type":"control","action":"x","payload":${nest(MAX_PAYLOAD_DEPTH + 1)}}`);
    assert.deepEqual(await a.next(), SCHEMA_ERROR);
    await expectSilence(b, 50);
    await done(a, b, c);
  });

  test('a huge array within the size limit is forwarded intact to v1 and v2', async () => {
    const { a, b, c } = await trio();
    const items = 100_000; // "0," × 100k ≈ 200 KB < 256 KiB
    const text = `{"type":"control","action":"bulk","payload":[${new Array(items).fill(0).join(',')}]}`;
    assert.ok(text.length < MSG_MAX);
    a.send(text);
    assert.equal(((await b.next()) as { payload: unknown[] }).payload.length, items);
    assert.equal(((await c.next()) as { payload: unknown[] }).payload.length, items);
    await done(a, b, c);
  });

  test('__proto__ and constructor keys: forwarded as data, no prototype pollution', async () => {
    const { a, b, c } = await trio();
    a.send(
      '{"type":"control","action":"x","payload":{"__proto__":{"polluted":1},' +
        '"constructor":{"prototype":{"polluted":2}}},"__proto__":{"polluted":3},"to":"nobody"}',
    );
    const got = (await b.next()) as { payload: Record<string, unknown> };
    assert.ok(Object.hasOwn(got.payload, '__proto__'), 'kept as an own data key');
    assert.ok(Object.hasOwn(got, '__proto__') === false, 'top-level extra field dropped');
    const gotV2 = (await c.next()) as { payload: Record<string, unknown> };
    assert.ok(Object.hasOwn(gotV2.payload, '__proto__'));
    // A shape smuggled through __proto__ is not a shape.
    a.send('{"__proto__":{"type":"offer"},"sdp":"x"}');
    assert.deepEqual(await a.next(), SCHEMA_ERROR);
    a.send('{"type":"offer","sdp":"x","constructor":{"prototype":{"polluted":4}}}');
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'x' });
    await c.next();
    const probe: Record<string, unknown> = {};
    assert.equal(probe.polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    await done(a, b, c);
  });

  test('duplicate keys: the receiver gets the normalized message, never the ambiguous text', async () => {
    const { a, b, c } = await trio();
    const rawTexts: string[] = [];
    b.ws.on('message', (data) => rawTexts.push(data.toString()));
    const cases: [string, unknown][] = [
      ['{"type":"control","type":"offer","sdp":"v=0"}', { type: 'offer', sdp: 'v=0' }],
      ['{"type":"offer","sdp":"first","sdp":"second"}', { type: 'offer', sdp: 'second' }],
      ['{"type" :"control", "type"\t: "answer","sdp":"x"}', { type: 'answer', sdp: 'x' }],
      [
        '{"type":"control","action":"x","payload":{"k":1,"k":2}}',
        { type: 'control', action: 'x', payload: { k: 2 } },
      ],
      [
        '{"type":"control","action":"x","payload":[{"a\\\\":1,"a\\\\":2}]}',
        { type: 'control', action: 'x', payload: [{ 'a\\': 2 }] },
      ],
    ];
    for (const [text, expected] of cases) {
      a.send(text);
      assert.deepEqual(await b.next(), expected, text);
      // What went over the wire is exactly the normalized message: any parser reads the same.
      assert.equal(rawTexts.at(-1), JSON.stringify(expected), text);
      const v2 = (await c.next()) as Record<string, unknown>;
      delete v2.from;
      assert.deepEqual(v2, expected, text);
    }
    // Without duplicates the sender's own text is forwarded, spacing and all (the fast path).
    const spaced = '{ "type" : "offer" , "sdp" : "a\\\\\\"b" }';
    a.send(spaced);
    await b.next();
    assert.equal(rawTexts.at(-1), spaced);
    await c.next();
    await done(a, b, c);
  });

  test('numbers and strings at type edges', async () => {
    const { a, b, c } = await trio();
    const refused = [
      '{"type":"candidate","candidate":"c","sdpMLineIndex":-1}',
      '{"type":"candidate","candidate":"c","sdpMLineIndex":1.5}',
      '{"type":"candidate","candidate":"c","sdpMLineIndex":1e400}',
      '{"type":"candidate","candidate":"c","sdpMLineIndex":9007199254740992}',
      '{"type":"candidate","candidate":"c","sdpMLineIndex":"0"}',
      '{"type":"candidate","candidate":"c","sdpMLineIndex":null}',
      '{"type":"candidate","candidate":"c","sdpMid":5}',
      '{"type":"candidate","candidate":""}',
      '{"type":"offer","sdp":""}',
      '{"type":"offer","sdp":123}',
      '{"type":"offer","sdp":null}',
      '{"type":"OFFER","sdp":"x"}',
      '{"type":"control","action":""}',
      '{"type":["offer"],"sdp":"x"}',
      '[]',
      'null',
      'true',
      '12345678901234567890',
      '"offer"',
      '{}',
    ];
    for (const text of refused) {
      a.send(text);
      assert.deepEqual(await a.next(), SCHEMA_ERROR, text);
    }
    for (const text of ['', ' ', '{', '{"type":"offer",}', 'NaN', '\u0000']) a.send(text);
    await expectSilence(a, 100); // not JSON: dropped without a reply
    await expectSilence(b, 0);
    const accepted: [string, unknown][] = [
      [
        '{"type":"candidate","candidate":"c","sdpMLineIndex":9007199254740991,"sdpMid":""}',
        { type: 'candidate', candidate: 'c', sdpMLineIndex: 9007199254740991, sdpMid: '' },
      ],
      [
        '{"type":"candidate","candidate":"c","sdpMLineIndex":-0}',
        { type: 'candidate', candidate: 'c', sdpMLineIndex: 0 },
      ],
      [
        '{"type":"candidate","candidate":"c","sdpMLineIndex":2.0}',
        { type: 'candidate', candidate: 'c', sdpMLineIndex: 2 },
      ],
      [
        '{"type":"offer","sdp":"\\ud800 lone surrogate \\u0000 nul"}',
        { type: 'offer', sdp: '\ud800 lone surrogate \u0000 nul' },
      ],
      [
        '{"type":"control","action":"x","payload":1e308}',
        { type: 'control', action: 'x', payload: 1e308 },
      ],
      [
        '{"type":"control","action":"x","payload":null}',
        { type: 'control', action: 'x', payload: null },
      ],
    ];
    for (const [text, expected] of accepted) {
      a.send(text);
      // v1 receives the sender's text as is (so -0 stays -0); compare through JSON.
      assert.deepEqual(JSON.parse(JSON.stringify(await b.next())), expected, text);
      const v2 = (await c.next()) as Record<string, unknown>;
      delete v2.from;
      assert.deepEqual(v2, expected, text);
    }
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    await done(a, b, c);
  });
});

describe('sizes and framing', () => {
  const offerOf = (bytes: number) => {
    const head = '{"type":"offer","sdp":"';
    return head + 'x'.repeat(bytes - head.length - 2) + '"}';
  };

  test('exactly MESSAGE_MAX_BYTES is forwarded; one byte over and far over are dropped silently', async () => {
    const { a, b, c } = await trio();
    a.send(offerOf(MSG_MAX));
    assert.equal(((await b.next()) as { sdp: string }).sdp.length, MSG_MAX - 25);
    await c.next();
    a.send(offerOf(MSG_MAX + 1));
    a.send(offerOf(FRAME_MAX)); // far over the message limit, at the frame limit
    await expectSilence(b, 150);
    await expectSilence(a, 0);
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    await done(a, b, c);
  });

  test('one byte over MAX_FRAME_BYTES closes 1009 "Message too big"', async () => {
    const { a, b, c } = await trio();
    a.send(offerOf(FRAME_MAX + 1));
    assert.deepEqual(await a.closed, { ...Close.messageTooBig });
    assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
    await done(b, c);
  });

  test('a frame header claiming 1 GiB closes 1009 before any payload is read', async () => {
    const raw = await rawUpgrade(t.port, `/?roomId=h-raw-${++room}`);
    assert.equal(raw.status, 101);
    const reader = new FrameReader(raw.socket, raw.rest);
    raw.socket.write(clientFrame(Opcode.text, Buffer.from('{"type"'), { declaredLength: 2 ** 30 }));
    assert.deepEqual(await reader.closed, { ...Close.messageTooBig });
    raw.socket.destroy();
    await assertServing();
  });

  test('fragmented messages are reassembled (with a ping between fragments)', async () => {
    const { a, b, c, roomId } = await trio();
    a.ws.send('{"type":"offer",', { fin: false });
    a.ws.send('"sdp":"frag', { fin: false });
    a.ws.send('mented"}', { fin: true });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'fragmented' });
    await c.next();

    const raw = await rawUpgrade(t.port, `/?roomId=${roomId}`);
    const reader = new FrameReader(raw.socket, raw.rest);
    raw.socket.write(clientFrame(Opcode.text, Buffer.from('{"type":"answer",'), { fin: false }));
    raw.socket.write(clientFrame(Opcode.ping, Buffer.from('p')));
    raw.socket.write(clientFrame(Opcode.cont, Buffer.from('"sdp":"raw"}')));
    assert.deepEqual(await b.next(), { type: 'answer', sdp: 'raw' });
    assert.ok(reader.frames.some((f) => f.opcode === Opcode.pong));
    raw.socket.destroy();
    await done(a, b, c);
  });

  test('fragments adding up past MAX_FRAME_BYTES close 1009; past MESSAGE_MAX_BYTES drop', async () => {
    const { a, b, c } = await trio();
    const chunk = 'x'.repeat(200 * 1024);
    a.ws.send('{"type":"offer","sdp":"', { fin: false });
    a.ws.send(chunk, { fin: false }); // 200 KiB: under both limits so far
    a.ws.send(chunk + '"}', { fin: true }); // 400 KiB: over the message limit only
    await expectSilence(b, 150);
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    a.ws.send('{"type":"offer","sdp":"', { fin: false });
    for (let i = 0; i < 3; i++) a.ws.send(chunk, { fin: false }); // 600 KiB > 512 KiB
    assert.deepEqual(await a.closed, { ...Close.messageTooBig });
    await done(b, c);
  });

  test('protocol violations close 1002: a stray continuation, an oversized ping', async () => {
    for (const frame of [
      clientFrame(Opcode.cont, Buffer.from('x')),
      clientFrame(Opcode.ping, Buffer.alloc(200)),
      clientFrame(Opcode.ping, Buffer.from('x'), { fin: false }),
    ]) {
      const raw = await rawUpgrade(t.port, `/?roomId=h-raw-${++room}`);
      const reader = new FrameReader(raw.socket, raw.rest);
      raw.socket.write(frame);
      assert.equal((await reader.closed).code, 1002);
      raw.socket.destroy();
    }
    await assertServing();
  });
});
