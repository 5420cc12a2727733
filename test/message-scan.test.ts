/**
 * The fast path of parseMessage (src/protocol/scan.ts) must answer exactly what JSON.parse +
 * validation answers whenever it answers at all: same kind, same normalized message (the lazily
 * unescaped SDP included), same `pristine`, same `to`. Property-based (fast-check) over texts
 * built to sit on the fast path's edges: JSON whitespace and look-alikes, escapes valid and
 * not, raw control characters, lone surrogates, numbers in every spelling, duplicate and extra
 * keys, other key orders, a BOM, trailing bytes and truncation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { mixed, PHASE_MEASURED } from '../bench/payloads.js';
import { parseJson, parseMessage, type ParseResult } from '../src/protocol/message.js';
import { scanMessage } from '../src/protocol/scan.js';

const RUNS = 20_000;

/** JSON whitespace mostly, sometimes a character JSON does not take as whitespace. */
const ws = fc.oneof(
  { arbitrary: fc.constant(''), weight: 12 },
  { arbitrary: fc.constantFrom(' ', '\n', '\t', '\r\n  ', '  '), weight: 2 },
  { arbitrary: fc.constantFrom('\u00a0', '\v', '\f', '\u2028', '\ufeff'), weight: 1 },
);

/** String tokens: valid ones (any code units, escaped by JSON.stringify) and broken ones. */
const stringToken = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary' }).map((s) => JSON.stringify(s)), weight: 8 },
  { arbitrary: fc.string({ minLength: 1 }).map((s) => JSON.stringify(s)), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary' }).map((s) => `"${s}"`), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      '""',
      '"\\u00e9"',
      '"\\uD83D\\uDE00"',
      '"\\ud800"',
      '"\\u12"',
      '"\\u12G4"',
      '"\\x41"',
      '"a\\"',
      '"\\/"',
      '"\\\\"',
      '"a\nb"',
      '"a\u0000b"',
      '"a\u001fb"',
      '"a\u007fb"',
      '"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"',
      '"\u2028"',
      "'single'",
    ),
    weight: 2,
  },
  { arbitrary: fc.constantFrom('0', 'null', 'true', '{}', '[]', '1e1'), weight: 1 },
);

const numberToken = fc.oneof(
  fc.nat().map(String),
  fc.maxSafeNat().map(String),
  fc.constantFrom(
    '0',
    '-0',
    '00',
    '01',
    '1.0',
    '1e2',
    '1E0',
    '-1',
    '0.5',
    '999999999999999',
    '1000000000000000',
    '9007199254740991',
    '9007199254740993',
    '"1"',
    'null',
  ),
);

const typeToken = fc.oneof(
  { arbitrary: fc.constantFrom('"offer"', '"answer"', '"candidate"', '"control"'), weight: 6 },
  {
    arbitrary: fc.constantFrom('"off\\u0065r"', '"Offer"', '"peer-disconnected"', '"c"', '1'),
    weight: 1,
  },
);

type Member = [key: string, value: string];

/** The members of a message in the fast path's key order, each optional field maybe left out. */
const canonical = fc
  .tuple(
    typeToken,
    stringToken,
    fc.option(stringToken, { nil: undefined }),
    fc.option(numberToken, { nil: undefined }),
  )
  .map(([type, str, mid, index]): Member[] => {
    const m: Member[] = [['type', type]];
    if (type === '"offer"' || type === '"answer"') m.push(['sdp', str]);
    else if (type === '"control"') m.push(['action', str]);
    else {
      m.push(['candidate', str]);
      if (mid !== undefined) m.push(['sdpMid', mid]);
      if (index !== undefined) m.push(['sdpMLineIndex', index]);
    }
    return m;
  });

/** What may be done to the members: nothing (mostly), or one edit the fast path must notice. */
const edit = fc.oneof(
  { arbitrary: fc.constant((m: Member[]) => m), weight: 14 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('to', 'payload', 'extra', '__proto__', 'sdp', 'type'), stringToken)
      .map(
        ([k, v]) =>
          (m: Member[]) =>
            [...m, [k, v]] as Member[],
      ),
    weight: 2,
  },
  { arbitrary: fc.constant((m: Member[]) => [m[0]!, ...m]), weight: 1 }, // "type" twice
  { arbitrary: fc.constant((m: Member[]) => [...m].reverse()), weight: 1 },
  {
    arbitrary: fc.constant((m: Member[]) =>
      m.map(([k, v], i): Member => [i === 0 ? k.replace('e', '\\u0065') : k, v]),
    ),
    weight: 1,
  },
);

/** The text: members joined with random whitespace, sometimes broken at the ends. */
const text = fc
  .tuple(
    canonical,
    edit,
    fc.array(ws, { minLength: 12, maxLength: 12 }),
    fc.nat(5), // how many of the leading gaps are empty (the fast path wants `{"type":"` first)
    fc.nat(),
    fc.nat(9),
  )
  .map(([members, change, spaces, compact, cut, end]) => {
    const w = spaces.map((s, i) => (compact > 0 && [0, 3, 9, 10].includes(i) ? '' : s));
    const body = change(members)
      .map(([k, v], i) => `"${k}"${w[i % 12]}:${w[(i + 3) % 12]}${v}`)
      .join(`${w[7]},${w[8]}`);
    const t = `${w[9]}{${w[10]}${body}${w[11]}}${w[6]}`;
    if (end === 0) return t.slice(0, cut % (t.length + 1)); // truncated
    if (end === 1) return t + ['x', '}', ',', '\u0000'][cut % 4]!; // trailing bytes
    if (end === 2) return '\ufeff' + t; // BOM: JSON.parse refuses it
    return t;
  });

/** A result with its message as a plain object (reads the lazily unescaped SDP). */
const plain = (r: ParseResult) => (r.kind === 'ok' ? { ...r, message: { ...r.message } } : r);

test('scanMessage: whatever it answers, JSON.parse + validation answers the same', () => {
  let fast = 0;
  let fastOk = 0;
  fc.assert(
    fc.property(text, fc.boolean(), (t, allowTo) => {
      const slow = parseJson(t, allowTo);
      const r = scanMessage(t);
      assert.deepStrictEqual(plain(parseMessage(t, allowTo)), plain(slow), t);
      if (r === undefined) return;
      fast++;
      if (r.kind === 'ok') fastOk++;
      assert.deepStrictEqual(plain(r), plain(slow), t);
      // The text a pristine message is forwarded as means the normalized message.
      if (r.kind === 'ok') assert.deepStrictEqual(JSON.parse(t), { ...r.message });
    }),
    { numRuns: RUNS },
  );
  // The texts reach the fast path often enough for the property to mean something.
  assert.ok(fast > RUNS / 10, `only ${fast} of ${RUNS} texts took the fast path`);
  assert.equal(fastOk, fast);
});

test('scanMessage: the frames browsers send take the fast path, others fall back', () => {
  for (let i = 0; i < 5; i++) {
    const t = mixed(i, PHASE_MEASURED, 1e9);
    const r = scanMessage(t);
    assert.ok(r, t);
    assert.deepStrictEqual(plain(r), plain(parseJson(t)));
  }
  const r = scanMessage('{"type":"answer","sdp":"v=0\\r\\n"}');
  assert.ok(r?.kind === 'ok' && r.message.type === 'answer');
  assert.equal(r.message.sdp, 'v=0\r\n');
  assert.equal(r.message.sdp, 'v=0\r\n'); // kept after the first read
  for (const t of [
    '{"sdp":"x","type":"offer"}',
    '{"type":"offer","sdp":""}',
    '{"type":"candidate","candidate":"c","sdpMLineIndex":1.0}',
    '{"type":"candidate","candidate":"c","sdpMLineIndex":-0}',
    '{"type":"control","action":"a","payload":1}',
    '{"type":"offer","sdp":"x","to":"p"}',
    '{"type":"offer","sdp":"x","type":"offer"}',
    '\ufeff{"type":"offer","sdp":"x"}',
    '{"type":"offer","sdp":"a\u0001"}',
  ])
    assert.equal(scanMessage(t), undefined, t);
});

test('scanned offers and answers read like plain objects and share one sdp getter (no hidden class per message)', () => {
  const texts = ['{"type":"offer","sdp":"v=0\\r\\na"}', '{"type":"answer","sdp":"v=0"}'];
  const scan = () =>
    texts.map((t) => {
      const r = scanMessage(t);
      assert.ok(r?.kind === 'ok', t);
      return r.message;
    });
  // Before any read: an own enumerable accessor, one getter for every message. A getter made
  // per message gave each its own hidden class, which kept the frame's text alive through
  // scavenges (docs/performance.md).
  const [a, b] = scan().map((m) => Object.getOwnPropertyDescriptor(m, 'sdp'));
  assert.equal(typeof a?.get, 'function');
  assert.equal(a?.enumerable, true);
  assert.equal(a?.get, b?.get);
  scan().forEach((m, i) => {
    const parsed = JSON.parse(texts[i]!) as object;
    assert.deepStrictEqual(m, parsed); // prototype, keys and values
    assert.deepStrictEqual(Object.keys(m), ['type', 'sdp']);
    assert.equal(JSON.stringify(m), JSON.stringify(parsed));
    assert.deepStrictEqual({ ...m, from: 'p' }, { ...parsed, from: 'p' });
  });
});
