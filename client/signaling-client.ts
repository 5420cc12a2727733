/**
 * The signaling connection: one WebSocket to a Switchboard server (SPEC.md §1–§4), typed events,
 * automatic reconnection for retryable closes, and a bounded send queue that keeps messages
 * sent while disconnected and flushes them in order once connected again. In protocol v2 a
 * reconnect resumes the session (SPEC.md §13): the same peer id, and what the room sent
 * meanwhile delivered exactly once; `resumed` is emitted instead of `welcome`.
 *
 * State: connecting → open → (reconnecting → connecting → open)* → closed, changed only in
 * setState(). Works with the browser's WebSocket or an injected implementation (`ws` in Node).
 */
import type { SignalMessage } from '../src/protocol/message.js';
import { Emitter } from './emitter.js';
import {
  DEFAULT_BACKOFF,
  backoffDelay,
  isRetryable,
  type BackoffOptions,
} from './reconnect-policy.js';

/** The part of the WebSocket API the client uses (browser WebSocket and `ws` both have it). */
interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket class: the global one, or `ws`'s `WebSocket` in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

const OPEN = 1;

export interface ConnectOptions {
  /** Server URL(s), `ws://host:port` or `wss://…`. With several, each retry moves to the next. */
  url: string | string[];
  roomId: string;
  /** JWT, when the server has auth enabled. */
  token?: string;
  /**
   * Where the token travels: `query` (`?token=`), or `subprotocol` (an `access_token.<JWT>`
   * entry of Sec-WebSocket-Protocol, kept out of URLs and access logs). @default 'query'
   */
  tokenTransport?: 'query' | 'subprotocol';
  /**
   * Subprotocols to offer (the server's SUBPROTOCOL). With tokenTransport 'subprotocol' one
   * selectable protocol must be offered besides the token entry, since browsers fail a
   * handshake whose offered protocols got no answer. @default ['switchboard'] in that case
   */
  protocols?: string[];
  /** 2 (default): peer ids, welcome, directed messages (SPEC.md §4). 1: the plain protocol. */
  protocol?: 1 | 2;
  /** WebSocket implementation; defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect timing, or false to never reconnect. */
  reconnect?: Partial<BackoffOptions> | false;
  /** Messages kept while disconnected; send() returns false beyond. @default 256 */
  maxQueue?: number;
  /** Give up a handshake that has not completed after this long (then retry). @default 10000 */
  connectTimeoutMs?: number;
  /** Random source for jitter (tests). */
  random?: () => number;
  /**
   * Timer functions for the connect timeout and the reconnect delay (tests drive them with a
   * fake clock instead of waiting). @default globalThis.setTimeout / clearTimeout
   */
  timers?: Timers;
}

/** The timer functions the client uses (see ConnectOptions.timers). */
export interface Timers {
  setTimeout(callback: () => void, ms?: number): unknown;
  clearTimeout(handle: unknown): void;
}

const GLOBAL_TIMERS: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A message as received: what the sender sent, plus `from` in protocol v2. */
export type ReceivedMessage = SignalMessage & { from?: string };

/** What the client may send: a SPEC message, with `to` for a directed message (v2). */
export type OutgoingMessage = SignalMessage & { to?: string };

/** An ICE server as RTCPeerConnection takes it (RTCIceServer), from the server (SPEC.md §12). */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface Welcome {
  peerId: string;
  roomId: string;
  peers: string[];
  /** SPEC.md §13: present on every v2 welcome of a server with resume on. */
  resumeToken?: string;
  /** Present when this welcome answers a resume attempt. */
  resumed?: boolean;
  /** The server's STUN/TURN servers, TURN with a short-lived credential (absent: none offered). */
  iceServers?: IceServer[];
}

export interface CloseInfo {
  /** The close code (SPEC.md §1: 1008 policy refusals, 1000 "Room is full", 1013, …). */
  code: number;
  reason: string;
  /** Whether retrying can succeed (the close was not a policy refusal or a normal close). */
  retryable: boolean;
  /** Whether the client will reconnect (retryable, not closed by the app, retries left). */
  willRetry: boolean;
  /** Delay before the next attempt, when willRetry. */
  retryInMs?: number;
}

export interface ClientEvents {
  /** The WebSocket opened (first time and after every reconnect). */
  open: [{ url: string; reconnected: boolean }];
  /**
   * v2: admitted; own id and the peers already in the room. Again after a reconnect that could
   * not resume (a new peer id: every previous peer was reported left just before).
   */
  welcome: [Welcome];
  /**
   * v2: a reconnect resumed the session (SPEC.md §13): same peer id, nothing lost; peers that
   * left or joined meanwhile were reported just before (peer-left / peer-joined).
   */
  resumed: [Welcome];
  'peer-joined': [peerId: string];
  /** A peer left (v1: the id is unknown, undefined). */
  'peer-left': [peerId: string | undefined];
  message: [ReceivedMessage];
  /**
   * v2: the server sent fresh ICE servers (new TURN credentials) before the current ones expire.
   * `client.iceServers` already holds them. PeerMesh applies them to its connections.
   */
  'ice-servers': [IceServer[]];
  /** The server refused a message: `schema-error`, or `unknown-peer` for a bad `to`. */
  rejected: [action: 'schema-error' | 'unknown-peer'];
  close: [CloseInfo];
}

export class SignalingClient extends Emitter<ClientEvents> {
  state: ClientState = 'connecting';
  /** Own peer id (v2), from the latest welcome. */
  peerId: string | undefined;
  /** Remote peers currently in the room (v2). */
  readonly peers = new Set<string>();
  /** The ICE servers the server offered (v2 welcome, then each `ice-servers` refresh). */
  iceServers: IceServer[] = [];
  /** Resolves on the first admission (v2 welcome; v1 open); rejects if closed before. */
  readonly ready: Promise<void>;

  private readonly opts: ConnectOptions;
  private readonly urls: string[];
  private readonly backoff: BackoffOptions | false;
  private readonly maxQueue: number;
  private readonly WS: WebSocketConstructor;
  private ws: WebSocketLike | undefined;
  private readonly queue: string[] = [];
  private attempt = 0;
  private urlIndex = 0;
  private opened = false;
  /** The latest welcome's resume token (v2); used once, on the next reconnect. */
  private resumeToken: string | undefined;
  private timer: unknown;
  private readonly timers: Timers;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(opts: ConnectOptions) {
    super();
    this.opts = opts;
    this.urls = Array.isArray(opts.url) ? opts.url : [opts.url];
    if (this.urls.length === 0) throw new TypeError('connect: url is required');
    this.backoff = opts.reconnect === false ? false : { ...DEFAULT_BACKOFF, ...opts.reconnect };
    this.maxQueue = opts.maxQueue ?? 256;
    this.timers = opts.timers ?? GLOBAL_TIMERS;
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError('connect: no global WebSocket; pass options.WebSocket');
    this.WS = WS;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it; never unhandled
    this.open();
  }

  /** The URL of the current (or next) attempt. */
  get url(): string {
    return this.urls[this.urlIndex % this.urls.length]!;
  }

  get protocolVersion(): 1 | 2 {
    return this.opts.protocol ?? 2;
  }

  /**
   * Send a message; `to` directs it to one peer (v2). While disconnected it is queued and sent,
   * in order, after the next connect. Returns false when the queue is full (the message is not
   * sent) or the client is closed.
   */
  send(message: OutgoingMessage): boolean {
    if (this.state === 'closed') return false;
    const text = JSON.stringify(message);
    if (this.ws && this.ws.readyState === OPEN && this.queue.length === 0 && this.admittedNow) {
      this.ws.send(text);
      return true;
    }
    if (this.queue.length >= this.maxQueue) return false;
    this.queue.push(text);
    return true;
  }

  /** Messages waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  /** Close for good (no reconnect). */
  close(code = 1000, reason = ''): void {
    if (this.state === 'closed') return;
    this.timers.clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    this.finish({ code, reason, retryable: false, willRetry: false });
    if (ws) {
      detach(ws);
      ws.close(code, reason);
    }
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  private setState(state: ClientState): void {
    this.state = state;
  }

  private buildUrl(base: string): { url: string; protocols: string[] | undefined } {
    const u = new URL(base);
    u.searchParams.set('roomId', this.opts.roomId);
    if (this.protocolVersion === 2) u.searchParams.set('v', '2');
    if (this.protocolVersion === 2 && this.resumeToken !== undefined)
      u.searchParams.set('resume', this.resumeToken);
    let protocols = this.opts.protocols;
    if (this.opts.token !== undefined) {
      if (this.opts.tokenTransport === 'subprotocol') {
        protocols = [...(protocols ?? ['switchboard']), `access_token.${this.opts.token}`];
      } else {
        u.searchParams.set('token', this.opts.token);
      }
    }
    return { url: u.toString(), protocols };
  }

  private open(): void {
    this.setState('connecting');
    const target = this.url;
    let ws: WebSocketLike;
    try {
      const { url, protocols } = this.buildUrl(target);
      ws = new this.WS(url, protocols) as WebSocketLike;
    } catch (err) {
      // An invalid URL is not going to get better with retries. Reported on a later tick so
      // listeners attached right after connect() see it.
      const reason = err instanceof Error ? err.message : String(err);
      this.timers.setTimeout(() =>
        this.finish({ code: 1006, reason, retryable: false, willRetry: false }),
      );
      return;
    }
    this.ws = ws;
    const openedAt = Date.now();
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    this.timer = this.timers.setTimeout(() => {
      if (ws.readyState !== OPEN) this.onSocketClose(ws, 1006, 'Connect timeout', openedAt);
    }, timeoutMs);
    ws.onopen = () => {
      this.timers.clearTimeout(this.timer);
      this.setState('open');
      const reconnected = this.opened;
      this.opened = true;
      this.emit('open', { url: target, reconnected });
      // v1 flushes at once; v2 after the welcome, so what was queued while disconnected
      // follows the resume (and goes nowhere if the client was refused).
      if (this.protocolVersion === 1) {
        this.admitted();
        this.flush();
      }
    };
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => undefined; // a close event always follows
    ws.onclose = (ev) => this.onSocketClose(ws, ev.code, ev.reason, openedAt);
  }

  private flush(): void {
    const ws = this.ws;
    while (ws && ws.readyState === OPEN && this.queue.length > 0) ws.send(this.queue.shift()!);
  }

  /** The current connection has been admitted (v2: its welcome arrived). */
  private admittedNow = false;

  private admitted(): void {
    this.attempt = 0;
    this.admittedNow = true;
    this.resolveReady();
  }

  private onSocketClose(ws: WebSocketLike, code: number, reason: string, openedAt: number): void {
    if (ws !== this.ws) return; // an old socket, already handled
    this.timers.clearTimeout(this.timer);
    detach(ws);
    this.ws = undefined;
    this.admittedNow = false;
    if (ws.readyState !== 3 /* CLOSED */) ws.close();
    // v1 has no admission message: a connection that stayed up a while counts as admitted.
    if (this.protocolVersion === 1 && Date.now() - openedAt > 5000) this.attempt = 0;
    const retryable = isRetryable(code);
    const delay =
      retryable && this.backoff ? backoffDelay(this.attempt, this.backoff, this.opts.random) : null;
    if (delay === null) {
      this.finish({ code, reason, retryable, willRetry: false });
      return;
    }
    this.attempt++;
    this.urlIndex++;
    this.setState('reconnecting');
    this.emit('close', { code, reason, retryable, willRetry: true, retryInMs: delay });
    this.timer = this.timers.setTimeout(() => {
      if (this.state === 'reconnecting') this.open();
    }, delay);
  }

  private finish(info: CloseInfo): void {
    if (this.state === 'closed') return;
    this.setState('closed');
    this.queue.length = 0;
    this.rejectReady(new Error(`closed before admission: ${info.code} ${info.reason}`));
    this.emit('close', info);
  }

  // ---- incoming ----------------------------------------------------------------------------

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') return; // the server sends text frames only
    let msg: ReceivedMessage | { type: 'peer-disconnected'; peerId?: string };
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch {
      return;
    }
    if (msg.type === 'peer-disconnected') {
      const id = msg.peerId;
      if (id !== undefined) this.peers.delete(id);
      this.emit('peer-left', id);
      return;
    }
    // In v2 every forwarded message carries `from`, so a control without it is the server's.
    // v1 has no such marker and the server sends v1 clients no welcome or peer-joined: a
    // control with those actions there is a peer's message.
    if (msg.type === 'control' && msg.from === undefined && this.protocolVersion === 2) {
      const payload = msg.payload as { peerId?: string } | undefined;
      switch (msg.action) {
        case 'welcome':
          return this.onWelcome(msg.payload as Welcome);
        case 'peer-joined':
          if (typeof payload?.peerId === 'string') this.addPeer(payload.peerId);
          return;
        case 'ice-servers': {
          const list = (msg.payload as { iceServers?: unknown } | undefined)?.iceServers;
          if (!Array.isArray(list)) return;
          this.iceServers = list as IceServer[];
          this.emit('ice-servers', this.iceServers);
          return;
        }
        case 'schema-error':
        case 'unknown-peer':
          this.emit('rejected', msg.action);
          return;
      }
    }
    if (msg.type === 'control' && msg.action === 'schema-error' && this.protocolVersion === 1) {
      this.emit('rejected', 'schema-error');
      return;
    }
    // A message can overtake its sender's peer-joined when they travel different paths
    // (another node); treat its sender as joined first so listeners see a consistent order.
    if (msg.from !== undefined) this.addPeer(msg.from);
    this.emit('message', msg);
  }

  private addPeer(id: string): void {
    if (id === this.peerId || this.peers.has(id)) return;
    this.peers.add(id);
    this.emit('peer-joined', id);
  }

  private onWelcome(w: Welcome): void {
    this.resumeToken = w.resumeToken;
    if (w.resumed === true && w.peerId === this.peerId) return this.onResumed(w);
    const previous = [...this.peers];
    this.peers.clear();
    this.peerId = w.peerId;
    // After a reconnect this client has a new id and the others will treat it as a new peer:
    // every previous peer is gone as far as this session is concerned.
    for (const id of previous) this.emit('peer-left', id);
    for (const id of w.peers) this.peers.add(id);
    this.iceServers = Array.isArray(w.iceServers) ? w.iceServers : [];
    this.admitted();
    const welcome: Welcome = { peerId: w.peerId, roomId: w.roomId, peers: [...w.peers] };
    if (Array.isArray(w.iceServers)) welcome.iceServers = w.iceServers;
    this.emit('welcome', welcome);
    this.flush();
  }

  /** Same id: the peers see no change; only who left or joined meanwhile is reported. */
  private onResumed(w: Welcome): void {
    const now = new Set(w.peers);
    for (const id of [...this.peers])
      if (!now.has(id)) {
        this.peers.delete(id);
        this.emit('peer-left', id);
      }
    for (const id of w.peers) this.addPeer(id);
    this.admitted();
    const resumed: Welcome = { peerId: w.peerId, roomId: w.roomId, peers: [...w.peers] };
    if (Array.isArray(w.iceServers)) {
      // Fresh TURN credentials with the resume: applied like an ice-servers refresh.
      resumed.iceServers = w.iceServers;
      this.iceServers = w.iceServers;
      this.emit('ice-servers', this.iceServers);
    }
    this.emit('resumed', resumed);
    this.flush();
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => undefined;
}

/** Open a signaling connection. Listen for events right away; they start on the next tick. */
export function connect(opts: ConnectOptions): SignalingClient {
  return new SignalingClient(opts);
}
