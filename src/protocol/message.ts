/**
 * Message shapes of SPEC.md §2 and their parsing. Parse once, validate once: `parseMessage`
 * turns a frame into a normalized message (unknown fields dropped) and says whether the
 * sender's text can be forwarded as is (it had no field to drop), so the hot path serializes
 * only when normalization changed something.
 */

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

/** True when v nests at most `budget` levels of arrays/objects. Recursion bounded by budget. */
function nestingWithin(v: unknown, budget: number): boolean {
  if (v === null || typeof v !== 'object') return true;
  if (budget === 0) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (!nestingWithin(x, budget - 1)) return false;
    return true;
  }
  for (const k in v)
    if (!nestingWithin((v as Record<string, unknown>)[k], budget - 1)) return false;
  return true;
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * @param text the frame decoded as UTF-8
 * @param allowTo accept a `to` field (protocol v2 directed message)
 */
export function parseMessage(text: string, allowTo = false): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
  return validateMessage(raw, allowTo);
}

/**
 * Validate and normalize an already parsed value (a frame's JSON, or the `message` of a server
 * API request). `pristine` is meaningful only for a value JSON.parse produced.
 */
export function validateMessage(
  raw: unknown,
  allowTo = false,
): Exclude<ParseResult, { kind: 'not-json' }> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return SCHEMA_ERROR;
  const obj = raw as Record<string, unknown>;
  let to: string | undefined;
  let extra: number; // fields besides the shape's and `to`
  let message: SignalMessage;
  switch (obj.type) {
    case 'offer':
    case 'answer': {
      if (!isNonEmptyString(obj.sdp)) return SCHEMA_ERROR;
      message = { type: obj.type, sdp: obj.sdp };
      extra = countExtra(obj, 2);
      break;
    }
    case 'candidate': {
      if (!isNonEmptyString(obj.candidate)) return SCHEMA_ERROR;
      const m: SignalMessage = { type: 'candidate', candidate: obj.candidate };
      let known = 2;
      if (obj.sdpMid !== undefined) {
        if (typeof obj.sdpMid !== 'string') return SCHEMA_ERROR;
        m.sdpMid = obj.sdpMid;
        known++;
      }
      if (obj.sdpMLineIndex !== undefined) {
        const i = obj.sdpMLineIndex;
        if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0) return SCHEMA_ERROR;
        m.sdpMLineIndex = i;
        known++;
      }
      message = m;
      extra = countExtra(obj, known);
      break;
    }
    case 'control': {
      if (!isNonEmptyString(obj.action)) return SCHEMA_ERROR;
      const m: SignalMessage = { type: 'control', action: obj.action };
      let known = 2;
      if (Object.hasOwn(obj, 'payload')) {
        if (!nestingWithin(obj.payload, MAX_PAYLOAD_DEPTH)) return SCHEMA_ERROR;
        m.payload = obj.payload;
        known++;
      }
      message = m;
      extra = countExtra(obj, known);
      break;
    }
    default:
      return SCHEMA_ERROR;
  }
  if (allowTo && Object.hasOwn(obj, 'to')) {
    if (!isNonEmptyString(obj.to)) return SCHEMA_ERROR;
    to = obj.to;
  }
  // `pristine`: the sender's text has exactly the shape's fields (no `to` either), so
  // re-serializing it would give the same object; it can be forwarded without a JSON.stringify.
  return { kind: 'ok', message, pristine: extra === 0, to };
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
