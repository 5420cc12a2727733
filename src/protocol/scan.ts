/**
 * The fast path of parseMessage (message.ts) for the frames clients send most, written exactly
 * as browsers serialize them:
 *   {"type":"offer"|"answer","sdp":S}
 *   {"type":"candidate","candidate":S[,"sdpMid":S][,"sdpMLineIndex":N]}
 *   {"type":"control","action":S}
 * in that key order, with JSON whitespace between any two tokens. One anchored regular
 * expression per shape checks the whole text, every string against JSON's string grammar
 * (no raw control character, only JSON's escapes), so a text it accepts is valid JSON with
 * exactly the shape's fields, each written once: the message is pristine and its text can be
 * forwarded as is. Anything else (another key order, `to`, a payload, an extra field, a number
 * spelled otherwise than 0 or 1–15 digits, invalid JSON) answers undefined and goes to
 * JSON.parse + validation, so this needs to be right only about what it accepts;
 * test/message-scan.test.ts checks exactly that against JSON.parse with fast-check.
 *
 * What it saves over JSON.parse: building the object (key internalization, map transitions),
 * the duplicate-key count of the text, and the SDP itself: an offer's or answer's `sdp` is
 * unescaped (by JSON.parse of its string token) only when first read, which on one node with
 * v1 receivers (who get the sender's bytes) is never. Written by hand: no library validates
 * JSON against a schema without materializing it, and the expressions are linear (each string
 * alternative starts with a character the others cannot).
 */
import type { ParseResult, SignalMessage } from './message.js';

const WS = '[ \\t\\n\\r]*';
/** The inside of a JSON string: characters other than `"`, `\` and controls, or an escape. */
const CHARS = '[^"\\\\\\x00-\\x1f]*(?:\\\\(?:["\\\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\\\\x00-\\x1f]*)*';
/** A JSON string token, quotes included (captured). */
const STRING = `("${CHARS}")`;
const key = (k: string) => `${WS},${WS}"${k}"${WS}:${WS}`;
const open = (type: string) => `^${WS}\\{${WS}"type"${WS}:${WS}"${type}"`;
const CLOSE = `${WS}\\}${WS}$`;

const SDP = new RegExp(`${open('(offer|answer)')}${key('sdp')}${STRING}${CLOSE}`);
const CANDIDATE = new RegExp(
  `${open('candidate')}${key('candidate')}${STRING}` +
    `(?:${key('sdpMid')}${STRING})?` +
    `(?:${key('sdpMLineIndex')}(0|[1-9][0-9]{0,14}))?${CLOSE}`,
);
const CONTROL = new RegExp(`${open('control')}${key('action')}${STRING}${CLOSE}`);

/** The value of a string token the expressions matched (a slice when it has no escape). */
function value(token: string): string {
  return token.indexOf('\\') === -1 ? token.slice(1, -1) : (JSON.parse(token) as string);
}

/** Where an offer's or answer's `sdp` token waits until something reads `sdp`. */
const SDP_TOKEN = Symbol('sdp token');

/**
 * The shared accessor of every scanned offer and answer: unescapes the token on first read and
 * makes `sdp` a plain data field from then on.
 */
const SDP_FIELD: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: { [SDP_TOKEN]: string }): string {
    const sdp = value(this[SDP_TOKEN]);
    Object.defineProperty(this, 'sdp', {
      value: sdp,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return sdp;
  },
};

/**
 * An offer or answer whose `sdp` is unescaped on first read (then kept): a plain object (the
 * prototype, keys and JSON of JSON.parse's) whose `sdp` is an own enumerable accessor with one
 * getter shared by every message, the token in a non-enumerable symbol field. An object literal
 * with `get sdp()` made a new getter per message, and with it a new hidden class each time (an
 * accessor lives in the class's descriptors): those old-space classes kept the getter's closure,
 * hence the token and the whole frame text, alive through every scavenge until the next
 * mark-compact. Under the cross-node bench load that promoted about 450 KB per scavenge; making
 * the message also cost 2-3x as much, and spreading it 2x (docs/performance.md, "What a
 * scavenge keeps").
 */
function sdpMessage(type: 'offer' | 'answer', token: string): SignalMessage {
  const message = { type } as SignalMessage;
  Object.defineProperty(message, SDP_TOKEN, { value: token, writable: true });
  Object.defineProperty(message, 'sdp', SDP_FIELD);
  return message;
}

/** parseMessage's answer for `text` if it is one of the shapes above, else undefined. */
export function scanMessage(text: string): ParseResult | undefined {
  // The shapes differ at `"type":"…"`; the first letter of the type picks the expression, so a
  // frame is matched once. `{"type":"` is 9 characters when written without whitespace.
  const c = text.charCodeAt(9);
  let message: SignalMessage;
  let m: RegExpExecArray | null;
  if (c === 0x63 /* c */) {
    if ((m = CANDIDATE.exec(text)) !== null) {
      const candidate = value(m[1]!);
      if (candidate.length === 0) return undefined;
      const msg: SignalMessage = { type: 'candidate', candidate };
      if (m[2] !== undefined) msg.sdpMid = value(m[2]);
      if (m[3] !== undefined) msg.sdpMLineIndex = Number(m[3]);
      message = msg;
    } else if ((m = CONTROL.exec(text)) !== null) {
      const action = value(m[1]!);
      if (action.length === 0) return undefined;
      message = { type: 'control', action };
    } else return undefined;
  } else if (c === 0x6f /* o */ || c === 0x61 /* a */) {
    if ((m = SDP.exec(text)) === null || m[2]!.length === 2) return undefined; // "" is refused
    message = sdpMessage(m[1] === 'offer' ? 'offer' : 'answer', m[2]!);
  } else return undefined;
  return { kind: 'ok', message, pristine: true, to: undefined };
}
