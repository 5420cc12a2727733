/**
 * Webhook events (SPEC.md §15): the types, the causes of `peer.left`, and the body every
 * receiver gets. An event is built once and its body serialized once, whatever the number of
 * URLs; its id (`webhook-id`) is fixed at emission, so every retry and every node that takes
 * over the delivery sends the same id.
 */
import { randomBytes } from 'node:crypto';

export type WebhookEventType =
  'room.started' | 'room.finished' | 'peer.joined' | 'peer.left' | 'peer.resumed';

/**
 * Why a peer left. The server's disconnect causes (signaling_disconnects_total) pass through
 * unchanged: close (close frame), error (1006), heartbeat, backpressure, token-expired,
 * refresh-refused, shutdown; plus removed (server API), reaped (its node died), resume-expired.
 */
export type LeaveCause = string;

export interface WebhookEventData {
  roomId: string;
  peerId?: string;
  cause?: LeaveCause;
  /** The token's `sub`, when auth is on. */
  subject?: string;
  /**
   * Server id of the node the peer is (was) connected to; for room events, of the node whose
   * join, leave or reaping decided it.
   */
  node: string;
}

export interface WebhookEvent {
  type: WebhookEventType;
  data: WebhookEventData;
}

/** One emitted event, ready to queue: its Standard Webhooks id and its serialized body. */
export interface QueuedEvent {
  id: string;
  /** Ordering key: a room's events are delivered one at a time, in order. */
  key: string;
  body: string;
}

/**
 * `msg_` + 128 random bits, base64url: unique per event (Standard Webhooks recommends a
 * prefix and forbids nothing but reuse for distinct events).
 */
export function newEventId(): string {
  return 'msg_' + randomBytes(16).toString('base64url');
}

/** Serialize once: `{"type","timestamp","data":{...}}`, data keys in SPEC order. */
export function buildEvent(event: WebhookEvent, now: number): QueuedEvent {
  const { roomId, peerId, cause, subject, node } = event.data;
  const data: WebhookEventData = { roomId } as WebhookEventData;
  if (peerId !== undefined) data.peerId = peerId;
  if (cause !== undefined) data.cause = cause;
  if (subject !== undefined) data.subject = subject;
  data.node = node;
  const timestamp = new Date(now).toISOString();
  const body = JSON.stringify({ type: event.type, timestamp, data });
  return { id: newEventId(), key: roomId, body };
}
