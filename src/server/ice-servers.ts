/**
 * ICE servers for clients (SPEC.md §12): the STUN and TURN URLs of the configuration, with a
 * TURN credential minted per connection (turn-credentials.ts), and the refresh of v2
 * connections' credentials before they expire.
 *
 * Refresh: one timer per server, never one per socket. Each v2 connection holding a TURN
 * credential sits in one slot of a timing wheel (slot = tick number when its refresh is due);
 * every tick takes the slots that came due, sends each connection an `ice-servers` control
 * message with a fresh credential and puts it back in the wheel. A connection is due at a
 * point drawn uniformly from [85 %, 90 %] of the TTL after its credential was minted, so a
 * node whose clients all joined at once (after a restart, say) does not refresh them all in
 * one burst; and at most MAX_REFRESH_PER_TICK go out per tick, the rest move to the next one.
 * The credential is never logged; only the count of credentials is a metric.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { controlMessage } from '../protocol/message.js';
import type { Metrics } from '../metrics.js';
import type { Peer } from './peer.js';
import { turnCredential, turnUser, type IceServer } from './turn-credentials.js';

export type { IceServer } from './turn-credentials.js';

/** Where a credential went (the metric's label). */
export type IceVia = 'welcome' | 'refresh' | 'http';

/** Refresh due at this fraction of the TTL, minus up to SPREAD of it (see above). */
const REFRESH_AT = 0.9;
const SPREAD = 0.05;
const MAX_REFRESH_PER_TICK = 1000;
/** Past this many missed ticks (a suspended process), the wheel's slots are scanned instead. */
const MAX_SLOT_WALK = 10_000;

export class IceServers {
  readonly ttlSeconds: number;
  private readonly stunUrls: string[];
  private readonly turnUrls: string[];
  private readonly secret: string | undefined;
  private readonly tickMs: number;
  /** Slot → connections whose refresh is due in it. */
  private readonly wheel = new Map<number, Set<Peer>>();
  /** Each scheduled connection's slot and TURN user. Removed when the socket closes. */
  private readonly entries = new Map<Peer, { slot: number; user: string }>();
  private lastSlot = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    config: Config,
    private readonly metrics: Metrics,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {
    this.ttlSeconds = config.turnTtlSeconds;
    this.stunUrls = config.stunUrls;
    this.turnUrls = config.turnSecret === undefined ? [] : config.turnUrls;
    this.secret = config.turnSecret;
    this.tickMs = Math.min(1000, Math.max(100, Math.round((this.ttlSeconds * 1000) / 200)));
  }

  /** Whether any ICE server is configured (nothing configured: none is offered). */
  get enabled(): boolean {
    return this.stunUrls.length > 0 || this.turnUrls.length > 0;
  }

  /** Connections waiting for a refresh (for tests and introspection). */
  get scheduled(): number {
    return this.entries.size;
  }

  /**
   * The ICE servers for one user (a token subject or a peer id), in RTCIceServer shape, with a
   * TURN credential valid for TURN_TTL_SECONDS from now.
   */
  issue(user: string, via: IceVia): IceServer[] {
    const list: IceServer[] = [];
    if (this.stunUrls.length > 0) list.push({ urls: [...this.stunUrls] });
    if (this.turnUrls.length > 0 && this.secret !== undefined) {
      // Rounded up: a credential is valid for at least the TTL (a refresh at 90 % of it is
      // always before the expiry), and less than a second more.
      const expiresAt = Math.ceil(this.now() / 1000) + this.ttlSeconds;
      const { username, credential } = turnCredential(this.secret, turnUser(user), expiresAt);
      list.push({ urls: [...this.turnUrls], username, credential });
      this.metrics.turnCredentialsIssued.inc({ via });
    }
    return list;
  }

  /** For `GET /ice-servers`: the token's subject, or (auth off, or no `sub`) a fresh id. */
  issueForRequest(subject: string | undefined): IceServer[] {
    return this.issue(subject ?? `client:${randomUUID()}`, 'http');
  }

  /**
   * The v2 welcome's share: `{ iceServers }` when any is configured, nothing otherwise. A
   * connection given a TURN credential is scheduled for its refresh.
   */
  welcome(peer: Peer): { iceServers?: IceServer[] } {
    if (!this.enabled) return {};
    const user = peer.subject ?? peer.id;
    const iceServers = this.issue(user, 'welcome');
    if (this.turnUrls.length > 0 && !this.entries.has(peer)) {
      peer.ws.once('close', () => this.forget(peer));
      this.schedule(peer, user);
    }
    return { iceServers };
  }

  start(): void {
    if (this.turnUrls.length === 0 || this.timer) return;
    this.lastSlot = Math.floor(this.now() / this.tickMs);
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.wheel.clear();
    this.entries.clear();
  }

  private schedule(peer: Peer, user: string): void {
    const fraction = REFRESH_AT - SPREAD * this.random();
    const due = this.now() + this.ttlSeconds * 1000 * fraction;
    this.place(peer, user, Math.max(this.lastSlot + 1, Math.ceil(due / this.tickMs)));
  }

  private place(peer: Peer, user: string, slot: number): void {
    this.entries.set(peer, { slot, user });
    let set = this.wheel.get(slot);
    if (!set) this.wheel.set(slot, (set = new Set()));
    set.add(peer);
  }

  private forget(peer: Peer): void {
    const entry = this.entries.get(peer);
    if (!entry) return;
    this.entries.delete(peer);
    const set = this.wheel.get(entry.slot);
    set?.delete(peer);
    if (set?.size === 0) this.wheel.delete(entry.slot);
  }

  private tick(): void {
    const current = Math.floor(this.now() / this.tickMs);
    const due: number[] = [];
    if (current - this.lastSlot <= MAX_SLOT_WALK) {
      for (let s = this.lastSlot + 1; s <= current; s++) if (this.wheel.has(s)) due.push(s);
    } else {
      for (const s of this.wheel.keys()) if (s <= current) due.push(s);
      due.sort((a, b) => a - b);
    }
    this.lastSlot = current;
    let budget = MAX_REFRESH_PER_TICK;
    for (const slot of due) {
      const set = this.wheel.get(slot)!;
      this.wheel.delete(slot);
      for (const peer of set) {
        const entry = this.entries.get(peer);
        if (!entry) continue;
        this.entries.delete(peer);
        if (peer.state !== 'open') continue;
        if (budget === 0) {
          this.place(peer, entry.user, current + 1);
          continue;
        }
        budget--;
        const iceServers = this.issue(entry.user, 'refresh');
        peer.send(Buffer.from(controlMessage('ice-servers', { iceServers })));
        this.schedule(peer, entry.user);
      }
    }
  }
}
