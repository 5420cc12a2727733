/**
 * What the redis backend stores with each member, in `{P room:ROOM}:members` (redis-keys.ts):
 * enough for a server API to list a room's members with details, and for the reaper to find a
 * dead node's members. `node` is written first: reap.lua finds a node's members by the text
 * `"node":"SERVER_ID"` without decoding the rest.
 */
export interface MemberRecord {
  /** Server id of the node the member is connected to. */
  node: string;
  /** When it joined, ms since the epoch (that node's clock). */
  joinedAt: number;
  /** Protocol version of its connection. */
  v: 1 | 2;
  /** With auth on: the token's `sub`. */
  subject?: string;
  /** Detached (SPEC.md §13): written by detach.lua (with `node` ""), removed by claim.lua. */
  detached?: boolean;
}

export function encodeRecord(r: MemberRecord): string {
  const out: MemberRecord = { node: r.node, joinedAt: r.joinedAt, v: r.v };
  if (r.subject !== undefined) out.subject = r.subject;
  return JSON.stringify(out);
}

/** The record, or undefined for a missing or malformed one (never throws). */
export function decodeRecord(text: string | null | undefined): MemberRecord | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as Partial<MemberRecord> | null;
    if (r === null || typeof r !== 'object' || typeof r.node !== 'string') return undefined;
    return r as MemberRecord;
  } catch {
    return undefined;
  }
}
