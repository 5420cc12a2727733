/**
 * What test/network-fuzz.test.ts sends, as fast-check arbitraries: request targets, methods,
 * versions and header sets an HTTP parser may accept but a URL parser may not, message texts
 * with JSON oddities, and WebSocket frame sequences (flags, opcodes, masks, close payloads),
 * with the frame encoder.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Opcode } from './raw-ws.js';

/** Request targets that an HTTP parser accepts but a URL parser may not. */
export const KNOWN_TARGETS = [
  '//a:99999/?roomId=x',
  '//[/',
  'http://evil:99999/?roomId=x',
  'http://[::1/',
  '*',
  '/',
  '?roomId=x',
  '/?roomId=%ZZ%',
  '/?roomId=x&roomId=y',
  '/?roomId=x#frag',
  '/?v=2&roomId=a',
  '/%2e%2e/?roomId=x',
  'ws://x/?roomId=a',
  '//',
  '/?',
  '/??roomId=x',
  `/?roomId=${'a'.repeat(5000)}`,
  '/?roomId=x&token=%',
  '/?roomId=x%00',
  '/?__proto__=1&roomId=x',
  '/?roomId[]=x',
  'http://a:b@c/?roomId=x',
  'http://[::1]:0/?roomId=x',
  'HTTP://EVIL/?roomId=x',
  '/?roomId=\u00e9',
  '/?roomId=x&v=2&v=1',
];
export const TARGET_PIECES = [
  '/',
  '//',
  '?',
  '#',
  '%',
  '%zz',
  '%41',
  '%00',
  '%ff',
  '[',
  ']',
  '::1',
  ':',
  '@',
  '99999',
  '0',
  'http:',
  'https://',
  'ws:',
  'roomId=',
  'v=2',
  'token=',
  '&',
  '=',
  'a',
  'room-1',
  '.',
  '..',
  '\\',
  '|',
  '^',
  '`',
  '{',
  '}',
  '"',
  '<',
  '>',
  "'",
  '~',
  '\u007f',
  '\u0080',
  '\u00ff',
  '+',
  ';',
];
export const target = fc.oneof(
  { arbitrary: fc.constantFrom(...KNOWN_TARGETS), weight: 2 },
  {
    arbitrary: fc
      .array(fc.constantFrom(...TARGET_PIECES), { minLength: 1, maxLength: 12 })
      .map((p) => p.join('')),
    weight: 5,
  },
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 }), weight: 1 },
);
export const method = fc.constantFrom(
  'GET',
  'GET',
  'GET',
  'GET',
  'HEAD',
  'POST',
  'OPTIONS',
  'CONNECT',
  'get',
  'PRI',
);
export const version = fc.constantFrom(
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/2.0',
  'HTTP/9.9',
);

export function validUpgradeHeaders(): [string, string][] {
  return [
    ['Host', '127.0.0.1'],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', randomBytes(16).toString('base64')],
    ['Sec-WebSocket-Version', '13'],
  ];
}

/** Header values that are odd but mostly still parseable by Node. */
export const headerValue = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    ',',
    ',,',
    'a,,b',
    'websocket, websocket',
    'WebSocket',
    'upgrade, keep-alive',
    '13, 8',
    '8',
    '0',
    '-1',
    '99999999999999999999',
    'null',
    'https://app.example.com',
    'https://app.example.com.evil',
    'http://[::1',
    'file://',
    'permessage-deflate; client_max_window_bits',
    'permessage-deflate; server_max_window_bits=99',
    'x; y=',
    'Bearer ',
    'Bearer a.b.c',
    'Basic Og==',
    'access_token.',
    'access_token.x, chat',
    'chat, chat',
    '1.2.3.4, ::1, 999.1.1.1',
    'unknown',
    '::ffff:1.2.3.4',
    'fe80::1%eth0',
    'https',
    'http, https',
    'chunked',
    '100-continue',
    'AAAAAAAAAAAAAAAAAAAAAA==',
    'not base64',
    '\u00e9\u00ff',
    'a'.repeat(6000),
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((s) => s.replace(/[\r\n\0]/g, '')),
);
export const headerName = fc.constantFrom(
  'Host',
  'Upgrade',
  'Connection',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
  'Origin',
  'X-Forwarded-For',
  'X-Forwarded-Proto',
  'Authorization',
  'Content-Length',
  'Transfer-Encoding',
  'Expect',
  'Cookie',
  'X-Custom',
  'sec-websocket-key',
  'UPGRADE',
);

export interface RawRequest {
  kind: 'request-line' | 'header-set';
  bytes: Buffer;
}

export const requestLine = fc
  .record({ method, target, version, upgrade: fc.boolean() })
  .map(({ method: m, target: t, version: v, upgrade }): RawRequest => {
    const headers = upgrade ? validUpgradeHeaders() : [['Host', '127.0.0.1'] as [string, string]];
    return { kind: 'request-line', bytes: head(`${m} ${t} ${v}`, headers) };
  });

export const headerSet = fc
  .record({
    drop: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 2 }),
    replace: fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), headerValue), { maxLength: 2 }),
    extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
    many: fc.constantFrom(0, 0, 0, 50, 200),
    roomId: fc.constantFrom('fz-h', 'fz h', '', 'fz-h2'),
  })
  .map(({ drop, replace, extra, many, roomId }): RawRequest => {
    let headers = validUpgradeHeaders();
    for (const [i, v] of replace) headers[i] = [headers[i]![0], v];
    headers = headers.filter((_, i) => !drop.includes(i));
    headers.push(...extra);
    for (let i = 0; i < many; i++) headers.push([`X-Pad-${i}`, 'p'.repeat(40)]);
    return { kind: 'header-set', bytes: head(`GET /?roomId=${roomId} HTTP/1.1`, headers) };
  });

export function head(line: string, headers: [string, string][]): Buffer {
  return Buffer.from(
    `${line}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
    'latin1',
  );
}

/** Message texts with JSON oddities: duplicate keys, extras, wrong types, deep nesting. */
export const jsonOddity = fc.oneof(
  fc.constantFrom(
    '{"type":"control","type":"offer","sdp":"v=0"}',
    '{"type":"offer","sdp":"v=0","sdp":"v=1"}',
    '{"type":"offer","sdp":"a","to":"x"}',
    '{"type":"candidate","candidate":"c","sdpMLineIndex":1e400}',
    '{"type":"control","action":"refresh-token","payload":{"token":"x"}}',
    '{"type":"control","action":"x","payload":' + '['.repeat(2000) + ']'.repeat(2000) + '}',
    '{"__proto__":{"type":"offer"},"sdp":"x"}',
    '{"type":"offer","sdp":"\\ud800"}',
    '{"type":"offer","sdp":"x"} trailing',
    '\ufeff{"type":"offer","sdp":"bom"}',
    '{"type":"offer","sdp":"' + 'x'.repeat(4100) + '"}',
    'null',
    '[]',
    '""',
    '1e999',
    '{}',
    '',
  ),
  fc
    .record(
      {
        type: fc.constantFrom('offer', 'answer', 'candidate', 'control', 'x'),
        sdp: fc.string(),
        candidate: fc.string(),
        sdpMLineIndex: fc.oneof(fc.integer(), fc.double()),
        action: fc.string(),
        payload: fc.jsonValue({ maxDepth: 4 }),
        to: fc.string(),
      },
      { requiredKeys: ['type'] },
    )
    .map((o) => JSON.stringify(o)),
  fc.json({ maxDepth: 3 }),
);

export const payload = fc.oneof(
  { arbitrary: jsonOddity.map((s) => Buffer.from(s)), weight: 6 },
  {
    // invalid UTF-8 spliced into JSON
    arbitrary: fc
      .tuple(
        jsonOddity,
        fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf5]),
      )
      .map(([s, bad]) => {
        const b = Buffer.from(s);
        const at = b.length >> 1;
        return Buffer.concat([b.subarray(0, at), Buffer.from(bad), b.subarray(at)]);
      }),
    weight: 2,
  },
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), weight: 1 },
);

export const CLOSE_CODES = [
  0, 999, 1000, 1001, 1004, 1005, 1006, 1012, 1014, 1015, 1016, 2000, 2999, 3000, 4999, 5000, 65535,
];

export interface Frame {
  opcode: number;
  payload: Buffer;
  fin: boolean;
  rsv: number;
  masked: boolean;
}

export const frameFlags = fc.record({
  fin: fc.oneof(
    { arbitrary: fc.constant(true), weight: 6 },
    { arbitrary: fc.constant(false), weight: 1 },
  ),
  rsv: fc.oneof(
    { arbitrary: fc.constant(0), weight: 12 },
    { arbitrary: fc.integer({ min: 1, max: 7 }), weight: 1 },
  ),
  masked: fc.oneof(
    { arbitrary: fc.constant(true), weight: 20 },
    { arbitrary: fc.constant(false), weight: 1 },
  ),
});

export const closePayload = fc.oneof(
  fc
    .tuple(fc.constantFrom(...CLOSE_CODES), fc.constantFrom('', 'bye', '\u00e9', 'x'.repeat(123)))
    .map(([code, reason]) => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(code);
      return Buffer.concat([b, Buffer.from(reason)]);
    }),
  fc.constantFrom(Buffer.from([0x03]), Buffer.from([0x03, 0xe8, 0xff, 0xfe]), Buffer.alloc(0)),
);

export const oneFrame: fc.Arbitrary<Frame[]> = fc.oneof(
  // a data frame
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom(Opcode.text, Opcode.text, Opcode.binary, Opcode.cont),
        payload,
        frameFlags,
      )
      .map(([opcode, p, f]) => [{ opcode, payload: p, ...f }]),
    weight: 8,
  },
  // a message split into fragments, maybe with a ping between them
  {
    arbitrary: fc
      .tuple(payload, fc.integer({ min: 2, max: 5 }), fc.boolean())
      .map(([p, parts, ping]) => {
        const frames: Frame[] = [];
        const size = Math.ceil(p.length / parts) || 1;
        for (let i = 0; i * size < Math.max(1, p.length); i++) {
          frames.push({
            opcode: i === 0 ? Opcode.text : Opcode.cont,
            payload: p.subarray(i * size, (i + 1) * size),
            fin: false,
            rsv: 0,
            masked: true,
          });
          if (ping && i === 0)
            frames.push({
              opcode: Opcode.ping,
              payload: Buffer.from('p'),
              fin: true,
              rsv: 0,
              masked: true,
            });
        }
        frames.at(-1)!.fin = true;
        return frames;
      }),
    weight: 2,
  },
  // control frames, some too long or fragmented
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom(Opcode.ping, Opcode.pong),
        fc.integer({ min: 0, max: 130 }),
        frameFlags,
      )
      .map(([opcode, n, f]) => [{ opcode, payload: randomBytes(n), ...f }]),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(closePayload, frameFlags)
      .map(([p, f]) => [{ opcode: Opcode.close, payload: p, ...f }]),
    weight: 1,
  },
  // reserved opcodes
  {
    arbitrary: fc
      .tuple(fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15), payload)
      .map(([opcode, p]) => [
        { opcode, payload: p.subarray(0, 100), fin: true, rsv: 0, masked: true },
      ]),
    weight: 1,
  },
);

export const frameSequence = fc
  .record({ frames: fc.array(oneFrame, { minLength: 1, maxLength: 6 }), v2: fc.boolean() })
  .map(({ frames, v2 }) => ({ frames: frames.flat(), v2 }));

export function encode(f: Frame): Buffer {
  const len = f.payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext);
  head[0] = (f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode;
  head[1] = (f.masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!f.masked) return Buffer.concat([head, f.payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(f.payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}
