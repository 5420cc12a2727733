/**
 * The bytes of a room channel (SPEC.md §5): one envelope as a JSON object, or several, in
 * order, as a JSON array (batching). This node writes `originServerId` first, so it can
 * recognize its own publications — which Redis pub/sub echoes back to it — by a prefix, before
 * parsing anything. Receivers accept either form from anyone, fields in any order.
 */
import type { Envelope } from './backend.js';

export class EnvelopeCodec {
  /** `{"originServerId":"<this node>",` — what every envelope of this node starts with. */
  private readonly ownPrefix: string;

  constructor(readonly serverId: string) {
    this.ownPrefix = `{"originServerId":${JSON.stringify(serverId)},`;
  }

  /**
   * One envelope of this node (`originServerId` is this node's, whatever the object says).
   * `dataJson`, when given, is `e.data` as JSON already (the sender's own text): written as is.
   */
  encode(e: Envelope, dataJson?: string): string {
    let s = this.ownPrefix + '"senderId":' + JSON.stringify(e.senderId);
    if (e.event !== undefined) s += ',"event":"' + e.event + '"';
    if (e.to !== undefined) s += ',"to":' + JSON.stringify(e.to);
    if (e.seq !== undefined) s += ',"seq":' + e.seq;
    // Resume (SPEC.md §13): only in rooms with detached peers, or on their events.
    if (e.kept !== undefined) s += ',"kept":' + JSON.stringify(e.kept);
    if (e.deadline !== undefined) s += ',"deadline":' + e.deadline;
    if (e.hash !== undefined) s += ',"hash":' + JSON.stringify(e.hash);
    return s + ',"data":' + (dataJson ?? JSON.stringify(e.data)) + '}';
  }

  /** The payload of one PUBLISH: the object itself, or the array of several. */
  static join(parts: string[]): string {
    return parts.length === 1 ? parts[0]! : '[' + parts.join(',') + ']';
  }

  /** This node's own publication (a batch carries one node's envelopes only). */
  isOwn(payload: string): boolean {
    return payload.startsWith(this.ownPrefix, payload.charCodeAt(0) === 0x5b ? 1 : 0);
  }

  /**
   * The valid envelopes of a payload, in order; a malformed payload or element is dropped
   * (Redis is trusted, but garbage on a channel must not crash a node). Envelopes of this node
   * are dropped too, whoever encoded them.
   */
  decode(payload: string): Envelope[] {
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch {
      return [];
    }
    if (!Array.isArray(value)) return this.valid(value) ? [value] : [];
    return (value as unknown[]).filter((v): v is Envelope => this.valid(v));
  }

  private valid(v: unknown): v is Envelope {
    return isEnvelope(v) && v.originServerId !== this.serverId;
  }
}

export function isEnvelope(v: unknown): v is Envelope {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  const data = e.data as Record<string, unknown> | null | undefined;
  return (
    typeof e.senderId === 'string' &&
    typeof e.originServerId === 'string' &&
    data !== null &&
    typeof data === 'object' &&
    typeof data.type === 'string' &&
    (e.event === undefined ||
      e.event === 'join' ||
      e.event === 'leave' ||
      e.event === 'detach' ||
      e.event === 'resume' ||
      e.event === 'takeover') &&
    (e.to === undefined || typeof e.to === 'string') &&
    (e.seq === undefined || typeof e.seq === 'number') &&
    (e.deadline === undefined || typeof e.deadline === 'number') &&
    (e.hash === undefined || typeof e.hash === 'string') &&
    (e.kept === undefined || (Array.isArray(e.kept) && e.kept.every((x) => typeof x === 'string')))
  );
}
