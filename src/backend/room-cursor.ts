/**
 * The opaque `cursor` of the room listing (SPEC.md §14): base64url of a small JSON object the
 * backend that made it can read back. It is client input: decoding checks every field and
 * refuses anything else with InvalidCursorError (answered 400), and its size is capped.
 */
import { InvalidCursorError } from './backend.js';
import { isValidRoomId } from '../protocol/room-id.js';

/** Longer cursors are refused before decoding (a pending list of rooms fits well within). */
export const MAX_CURSOR_LENGTH = 16_384;

/** The memory backend's: the last sequence number looked at. */
export interface MemoryCursor {
  s: number;
}

/**
 * The redis backend's: which master (index in the sorted list of masters; 0 for one Redis),
 * its SCAN cursor, and the rooms of the last SCAN batch that did not fit in the page.
 */
export interface RedisCursor {
  n: number;
  c: string;
  p: string[];
}

export function encodeCursor(value: MemoryCursor | RedisCursor): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode(cursor: string): Record<string, unknown> {
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor))
    throw new InvalidCursorError();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidCursorError();
  return value as Record<string, unknown>;
}

export function decodeMemoryCursor(cursor: string): MemoryCursor {
  const { s } = decode(cursor);
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw new InvalidCursorError();
  return { s };
}

export function decodeRedisCursor(cursor: string, roomIdMaxLength: number): RedisCursor {
  const { n, c, p } = decode(cursor);
  if (
    typeof n !== 'number' ||
    !Number.isSafeInteger(n) ||
    n < 0 ||
    typeof c !== 'string' ||
    !/^\d{1,20}$/.test(c) ||
    !Array.isArray(p) ||
    p.length > 1000 ||
    !p.every((id) => isValidRoomId(id, roomIdMaxLength))
  )
    throw new InvalidCursorError();
  return { n, c, p: p as string[] };
}
