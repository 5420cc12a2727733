/**
 * Property-based fuzzing (fast-check) of the message parser and the room-id validator: no input
 * throws, every accepted message re-serializes to a valid one with the same content, and a
 * "pristine" frame (forwarded as the sender's own text) means exactly the normalized message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_PAYLOAD_DEPTH, parseMessage, type SignalMessage } from '../src/protocol/message.js';
import { isValidRoomId } from '../src/protocol/room-id.js';

const RUNS = 3000;

const SHAPE_KEYS: Record<SignalMessage['type'], readonly string[]> = {
  offer: ['type', 'sdp'],
  answer: ['type', 'sdp'],
  candidate: ['type', 'candidate', 'sdpMid', 'sdpMLineIndex'],
  control: ['type', 'action', 'payload'],
};

/** Mostly a valid value, sometimes any JSON value at all. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: fc.jsonValue(), weight: 1 });

/** Messages that look like the real shapes, with random extra fields and wrong types mixed in. */
const almostMessage = fc
  .record(
    {
      type: mostly(fc.constantFrom('offer', 'answer', 'candidate', 'control', 'peer-disconnected')),
      sdp: mostly(fc.string({ minLength: 1 })),
      candidate: mostly(fc.string({ minLength: 1 })),
      sdpMid: mostly(fc.string()),
      sdpMLineIndex: mostly(
        fc.oneof(
          fc.integer({ min: -3, max: 1000 }),
          fc.maxSafeNat(),
          fc.double(),
          fc.constantFrom(-0, Number.POSITIVE_INFINITY, 2 ** 53, 2 ** 53 - 1),
        ),
      ),
      action: mostly(fc.string({ minLength: 1 })),
      payload: fc.jsonValue({ maxDepth: MAX_PAYLOAD_DEPTH + 8 }),
      to: mostly(fc.string()),
      __proto__: fc.jsonValue(),
      constructor: fc.jsonValue(),
      extra: fc.jsonValue(),
    },
    { requiredKeys: ['type'] },
  )
  .map((o) => JSON.stringify(o));

/** Strings that are JSON, nearly JSON, or anything at all (lone surrogates included). */
const frames = fc.oneof(
  { arbitrary: almostMessage, weight: 4 },
  { arbitrary: fc.json(), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary' }), weight: 1 },
  { arbitrary: almostMessage.map((s) => s.slice(0, Math.max(0, s.length - 1))), weight: 1 },
);

let accepted = 0;

function checkAccepted(text: string, allowTo: boolean): void {
  const r = parseMessage(text, allowTo);
  if (r.kind !== 'ok') return;
  accepted++;
  const { message } = r;
  // Only the shape's fields survive, with the contract's types.
  const keys = SHAPE_KEYS[message.type];
  assert.ok(keys, `unknown type ${String(message.type)}`);
  for (const k of Object.keys(message)) assert.ok(keys.includes(k), `field ${k} kept`);
  if (message.type === 'offer' || message.type === 'answer')
    assert.ok(typeof message.sdp === 'string' && message.sdp.length > 0);
  if (message.type === 'candidate') {
    assert.ok(typeof message.candidate === 'string' && message.candidate.length > 0);
    if (message.sdpMid !== undefined) assert.equal(typeof message.sdpMid, 'string');
    if (message.sdpMLineIndex !== undefined)
      assert.ok(Number.isSafeInteger(message.sdpMLineIndex) && message.sdpMLineIndex >= 0);
  }
  if (message.type === 'control')
    assert.ok(typeof message.action === 'string' && message.action.length > 0);
  // Re-serializing never throws and yields a valid, pristine message with the same content.
  const again = JSON.stringify(message);
  const r2 = parseMessage(again, allowTo);
  assert.equal(r2.kind, 'ok', again);
  if (r2.kind === 'ok') {
    assert.deepEqual(r2.message, JSON.parse(again));
    assert.equal(r2.pristine, true, 'a normalized message needs no further normalization');
  }
  // Forwarding the sender's text as is must mean exactly the normalized message.
  if (r.pristine) assert.deepEqual(JSON.parse(text), JSON.parse(again));
  if (r.to !== undefined) {
    assert.ok(allowTo && typeof r.to === 'string' && r.to.length > 0);
    assert.equal(r.pristine, false);
  }
}

test('parseMessage: never throws; accepted messages re-serialize to valid ones (v1 and v2)', () => {
  fc.assert(
    fc.property(frames, fc.boolean(), (text, allowTo) => {
      checkAccepted(text, allowTo);
    }),
    { numRuns: RUNS },
  );
  // The generator reaches the accepting paths often enough for the property to mean something.
  assert.ok(accepted > RUNS / 10, `only ${accepted} of ${RUNS} inputs accepted`);
});

test('parseMessage: a text with a key written twice (any level) is never pristine', () => {
  const valid = fc.oneof(
    fc.record({ type: fc.constantFrom('offer', 'answer'), sdp: fc.string({ minLength: 1 }) }),
    fc.record({ type: fc.constant('candidate'), candidate: fc.string({ minLength: 1 }) }),
    fc.record({
      type: fc.constant('control'),
      action: fc.string({ minLength: 1 }),
      payload: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 }),
    }),
  );
  let duplicated = 0;
  fc.assert(
    fc.property(valid, fc.nat(), fc.constantFrom('', ' ', '\t', '\n '), (msg, pick, ws) => {
      const text = JSON.stringify(msg);
      assert.equal(parseMessage(text).kind, 'ok');
      // Write one existing key (top level, or inside the payload) a second time, first.
      const top = Object.keys(msg);
      const payload = (msg as { payload?: Record<string, unknown> }).payload;
      const inner = payload ? Object.keys(payload) : [];
      const useInner = inner.length > 0 && pick % 2 === 1;
      const key = useInner ? inner[pick % inner.length]! : top[pick % top.length]!;
      const dup = `${JSON.stringify(key)}${ws}:${ws}${JSON.stringify(useInner ? 0 : 'control')},`;
      const at = useInner ? text.indexOf('"payload":{') + '"payload":{'.length : 1;
      const twice = text.slice(0, at) + dup + text.slice(at);
      const r = parseMessage(twice);
      if (r.kind !== 'ok') return; // the first value made it invalid: nothing forwarded
      duplicated++;
      assert.equal(r.pristine, false, twice);
    }),
    { numRuns: RUNS },
  );
  assert.ok(duplicated > RUNS / 4, `only ${duplicated} duplicated texts accepted`);
});

test('parseMessage: control payload nesting is capped, never a RangeError', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 20_000 }),
      fc.constantFrom('[', '{"k":'),
      (depth, open) => {
        const close = open === '[' ? ']' : '}';
        const inner = open === '[' && depth > 0 ? '' : '0';
        const payload = open.repeat(depth) + inner + close.repeat(depth);
        const r = parseMessage(`{"type":"control","action":"a","payload":${payload},"x":1}`);
        assert.equal(r.kind, depth <= MAX_PAYLOAD_DEPTH ? 'ok' : 'schema-error');
        if (r.kind === 'ok') JSON.stringify(r.message);
      },
    ),
    { numRuns: 100 },
  );
});

test('isValidRoomId: never throws; accepts exactly the contract pattern and length', () => {
  const pattern = /^[A-Za-z0-9_\-:.]+$/;
  const candidates = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.stringMatching(/^[A-Za-z0-9_\-:.]{0,200}$/),
    fc.anything(),
  );
  fc.assert(
    fc.property(candidates, fc.integer({ min: 1, max: 150 }), (value, max) => {
      const ok = isValidRoomId(value, max);
      const expected =
        typeof value === 'string' &&
        value.length >= 1 &&
        value.length <= max &&
        pattern.test(value) &&
        !value.includes('\n');
      assert.equal(ok, expected, JSON.stringify(value));
    }),
    { numRuns: RUNS },
  );
});
