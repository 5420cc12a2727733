/**
 * Message shapes of SPEC.md §2 and their parsing. Parse once, validate once: `parseMessage`
 * turns a frame into a normalized message (unknown fields dropped) and says whether the
 * sender's text can be forwarded as is (it had no field to drop), so the hot path serializes
 * only when normalization changed something.
 */
import { scanMessage } from './scan.js';

export type SignalMessage =
  | { type: 'offer'; sdp: string }
  | { type: 'answer'; sdp: string }
  | { type: 'candidate'; candidate: string; sdpMid?: string; sdpMLineIndex?: number }
  | { type: 'control'; action: string; payload?: unknown };

export type ParseResult =
  | { kind: 'ok'; message: SignalMessage; pristine: boolean; to: string | undefined }
  | { kind: 'not-json' }
  | { kind: 'schema-error' };

const NOT_JSON: ParseResult = { kind: 'not-json' };
const SCHEMA_ERROR: { kind: 'schema-error' } = { kind: 'schema-error' };
const REFUSED = { result: SCHEMA_ERROR, keys: 0 };

/** Exactly what SPEC.md §2 says a sender of an invalid message receives. */
export const SCHEMA_ERROR_REPLY = '{"type":"control","action":"schema-error"}';
export const UNKNOWN_PEER_REPLY = '{"type":"control","action":"unknown-peer"}';
export const PEER_DISCONNECTED_V1 = '{"type":"peer-disconnected"}';

/**
 * Deepest nesting of a control payload. V8's JSON.parse takes any depth, but JSON.stringify
 * recurses and throws a RangeError a few thousand levels down, which on the hot path (or in a
 * Redis publish) would be an uncaught exception. A payload that deep is refused here instead.
 */
export const MAX_PAYLOAD_DEPTH = 64;

/**
 * The number of object keys in v (all levels), or -1 when v nests deeper than `budget` levels
 * of arrays/objects. Recursion bounded by budget.
 */
function keysWithin(v: unknown, budget: number): number {
  if (v === null || typeof v !== 'object') return 0;
  if (budget === 0) return -1;
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) {
      const k = keysWithin(x, budget - 1);
      if (k < 0) return -1;
      n += k;
    }
    return n;
  }
  for (const key in v) {
    const k = keysWithin((v as Record<string, unknown>)[key], budget - 1);
    if (k < 0) return -1;
    n += k + 1;
  }
  return n;
}

/**
 * The number of object keys written in a JSON text: strings followed (after optional
 * whitespace) by `:`. Only for text JSON.parse accepted. JSON.parse keeps the last of
 * duplicate keys while other parsers keep the first, so a text with more keys than its parsed
 * value (`{"type":"control","type":"offer",…}`) must never be forwarded as is: the receiver
 * could read another message than the one validated. Jumps from quote to quote with indexOf,
 * so an SDP costs a few native scans, not a loop over its characters.
 */
export function keysInText(text: string): number {
  let n = 0;
  let i = 0;
  for (;;) {
    const open = text.indexOf('"', i);
    if (open === -1) return n;
    let close = text.indexOf('"', open + 1);
    while (close !== -1 && escaped(text, close)) close = text.indexOf('"', close + 1);
    if (close === -1) return n;
    let j = close + 1;
    let c = text.charCodeAt(j);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++j);
    if (c === 0x3a) n++;
    i = j;
  }
}

/** Whether the quote at `at` is escaped: preceded by an odd run of backslashes. */
function escaped(text: string, at: number): boolean {
  let k = at - 1;
  while (text.charCodeAt(k) === 0x5c) k--;
  return (at - 1 - k) % 2 === 1;
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * @param text the frame decoded as UTF-8
 * @param allowTo accept a `to` field (protocol v2 directed message)
 */
export function parseMessage(text: string, allowTo = false): ParseResult {
  return scanMessage(text) ?? parseJson(text, allowTo);
}

/** parseMessage without its fast path (scan.ts): JSON.parse, then validation. */
export function parseJson(text: string, allowTo = false): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
  const { result, keys } = validate(raw, allowTo);
  // A key written twice anywhere in the text (JSON.parse kept the last one): the sender's text
  // does not mean the normalized object to every parser, so it is never forwarded as is.
  if (result.kind === 'ok' && result.pristine && keysInText(text) !== keys)
    return { ...result, pristine: false };
  return result;
}

/**
 * Validate and normalize an already parsed value (a frame's JSON, or the `message` of a server
 * API request). `pristine` is meaningful only for a value JSON.parse produced.
 */
export function validateMessage(
  raw: unknown,
  allowTo = false,
): Exclude<ParseResult, { kind: 'not-json' }> {
  return validate(raw, allowTo).result;
}

/** validateMessage, plus the number of object keys (all levels) of the normalized message. */
function validate(
  raw: unknown,
  allowTo: boolean,
): { result: Exclude<ParseResult, { kind: 'not-json' }>; keys: number } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return REFUSED;
  const obj = raw as Record<string, unknown>;
  let to: string | undefined;
  let extra: number; // fields besides the shape's and `to`
  let nested = 0; // keys inside a control payload
  let message: SignalMessage;
  switch (obj.type) {
    case 'offer':
    case 'answer': {
      if (!isNonEmptyString(obj.sdp)) return REFUSED;
      message = { type: obj.type, sdp: obj.sdp };
      extra = countExtra(obj, 2);
      break;
    }
    case 'candidate': {
      if (!isNonEmptyString(obj.candidate)) return REFUSED;
      const m: SignalMessage = { type: 'candidate', candidate: obj.candidate };
      let known = 2;
      if (obj.sdpMid !== undefined) {
        if (typeof obj.sdpMid !== 'string') return REFUSED;
        m.sdpMid = obj.sdpMid;
        known++;
      }
      if (obj.sdpMLineIndex !== undefined) {
        const i = obj.sdpMLineIndex;
        if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0) return REFUSED;
        m.sdpMLineIndex = i;
        known++;
      }
      message = m;
      extra = countExtra(obj, known);
      break;
    }
    case 'control': {
      if (!isNonEmptyString(obj.action)) return REFUSED;
      const m: SignalMessage = { type: 'control', action: obj.action };
      let known = 2;
      if (Object.hasOwn(obj, 'payload')) {
        nested = keysWithin(obj.payload, MAX_PAYLOAD_DEPTH);
        if (nested < 0) return REFUSED;
        m.payload = obj.payload;
        known++;
      }
      message = m;
      extra = countExtra(obj, known);
      break;
    }
    default:
      return REFUSED;
  }
  if (allowTo && Object.hasOwn(obj, 'to')) {
    if (!isNonEmptyString(obj.to)) return REFUSED;
    to = obj.to;
  }
  // `pristine`: the value has exactly the shape's fields (no `to` either), so re-serializing it
  // gives the same object; parseMessage also requires its text to write no key twice.
  return {
    result: { kind: 'ok', message, pristine: extra === 0, to },
    keys: known(message) + nested,
  };
}

/** Top-level keys of a normalized message. */
function known(m: SignalMessage): number {
  let n = 0;
  for (const _ in m) n++;
  return n;
}

function countExtra(obj: Record<string, unknown>, known: number): number {
  let n = 0;
  for (const _ in obj) n++;
  // JSON.parse creates own enumerable properties only (even for "__proto__"), so the key count
  // minus the recognised ones is the number of fields to drop.
  return n - known;
}

/** Serialize a message for protocol v2 receivers: the message plus the server-stamped sender. */
export function withFrom(message: SignalMessage, from: string): string {
  return JSON.stringify({ ...message, from });
}

export function peerDisconnectedV2(peerId: string): string {
  return JSON.stringify({ type: 'peer-disconnected', peerId });
}

export function controlMessage(action: string, payload: unknown): string {
  return JSON.stringify({ type: 'control', action, payload });
}
