/**
 * What a resumed peer receives after its welcome (SPEC.md §13), as frames: its mailbox in
 * order, then what arrived while its claim ran, each message once, each origin's messages in
 * that origin's order. Pure: resume.ts sends the frames.
 */
import type { Envelope } from '../backend/backend.js';
import { peerDisconnectedV2, withFrom, type SignalMessage } from '../protocol/message.js';
import { concerns, envelopeId } from './resume-state.js';

/**
 * @param mailbox the kept envelopes (JSON), in append order
 * @param buffer what the room carried while the claim ran (messages and membership events)
 * @param members the room as the welcome lists it (the resumed peer included)
 */
export function replayFrames(
  peerId: string,
  mailbox: readonly string[],
  buffer: readonly Envelope[],
  members: readonly string[],
): { frames: Buffer[]; upTo: Map<string, number> } {
  const seen = new Set<string>();
  const items: Envelope[] = [];
  const once = (e: Envelope) => {
    const id = envelopeId(e);
    if (id !== undefined) {
      if (seen.has(id)) return;
      seen.add(id);
    }
    items.push(e);
  };
  for (const json of mailbox) {
    try {
      once(JSON.parse(json) as Envelope);
    } catch {
      // not an envelope: skipped
    }
  }
  // Membership events the welcome's list may already reflect: replay only what changes it.
  const present = new Set(members);
  for (const e of buffer) {
    if (e.event === 'join') {
      if (!present.has(e.senderId) && e.senderId !== peerId) {
        present.add(e.senderId);
        items.push(e);
      }
    } else if (e.event === 'leave') {
      if (present.delete(e.senderId) && e.senderId !== peerId) items.push(e);
    } else if (concerns(e, peerId)) once(e);
  }
  // The highest sequence replayed per origin: later live copies of these are dropped.
  const upTo = new Map<string, number>();
  for (const e of items)
    if (e.seq !== undefined && e.seq > (upTo.get(e.originServerId) ?? -1))
      upTo.set(e.originServerId, e.seq);
  const frames = inOriginOrder(items).map((e) =>
    Buffer.from(
      e.event === 'join'
        ? peerJoinedFrame(e.senderId)
        : e.event === 'leave'
          ? peerDisconnectedV2(e.senderId)
          : withFrom(e.data as SignalMessage, e.senderId),
    ),
  );
  return { frames, upTo };
}

/**
 * Restore each origin node's order (its sequence numbers) within the slots its messages occupy.
 * A mailbox is appended in arrival order, and a relayed copy (the detaching node appending what
 * the origin published before it heard of the detach) can land after the origin's own later
 * appends; per-sender order (SPEC.md §2) is per origin node's sequence.
 */
export function inOriginOrder(items: Envelope[]): Envelope[] {
  const byOrigin = new Map<string, number[]>();
  items.forEach((e, i) => {
    if (e.seq === undefined) return;
    let slots = byOrigin.get(e.originServerId);
    if (!slots) byOrigin.set(e.originServerId, (slots = []));
    slots.push(i);
  });
  const out = items.slice();
  for (const slots of byOrigin.values()) {
    const sorted = slots.map((i) => items[i]!).sort((x, y) => x.seq! - y.seq!);
    slots.forEach((slot, k) => (out[slot] = sorted[k]!));
  }
  return out;
}

function peerJoinedFrame(peerId: string): string {
  return JSON.stringify({ type: 'control', action: 'peer-joined', payload: { peerId } });
}
