/**
 * Perfect negotiation (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example): one
 * RTCPeerConnection per remote peer, wired to a v2 signaling client with directed messages.
 * Either side may (re)negotiate at any time; when both offer at once ("glare") the impolite
 * side ignores the incoming offer and the polite side rolls back its own and answers.
 * Politeness is decided without a message exchange: the peer with the smaller id is polite.
 *
 * Glare is handled, but avoided where it is predictable: a newly joined peer (which learns of
 * the others from its welcome) makes the first offer, and the peers already in the room (which
 * learn of it from peer-joined) hold their first offer for up to `answerWaitMs`, so that
 * they answer instead. Besides saving a round trip, this sidesteps a Chromium race in which a
 * polite peer that rolls back its very first offer sometimes never gathers ICE candidates for
 * its answer (seen with Chromium 156 under load; the connection then stays "new").
 *
 * ICE servers: the server's (welcome.iceServers, SPEC.md §12) are appended to the app's own
 * `rtcConfig.iceServers` for every RTCPeerConnection. When the server sends fresh TURN
 * credentials (`ice-servers`), each connection gets them with setConfiguration(); one whose
 * selected candidate pair is relayed through this side's TURN allocation is also ICE-restarted
 * at once, so it moves to an allocation made with the fresh credential before the old one
 * expires (a TURN server may refuse to refresh an allocation whose credential has expired; and
 * any later restart, e.g. after a network change, must not meet an expired credential).
 *
 * A reconnect that resumes (SPEC.md §13: same peer id, nothing lost) keeps every connection:
 * the media and data channels never noticed the signaling blip. A reconnect that could not
 * resume is a new peer id, so every connection is rebuilt from the new welcome: the others see
 * a peer leave and a new one join, and negotiate afresh.
 */
import { Emitter } from './emitter.js';
import type { ReceivedMessage, SignalingClient, Welcome } from './signaling-client.js';

export interface RemotePeer {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  /** This side yields on glare. */
  readonly polite: boolean;
}

export interface PeerMeshOptions {
  /**
   * RTCPeerConnection configuration. Its `iceServers` come first; the server's (welcome
   * `iceServers`, refreshed by `ice-servers`) are appended. Loopback and LANs need none.
   */
  rtcConfig?: RTCConfiguration;
  /**
   * On an `ice-servers` refresh, ICE-restart the connections whose selected candidate pair is
   * relayed by this side, so they re-allocate with the fresh TURN credential. @default true
   */
  restartRelayedOnRefresh?: boolean;
  /** RTCPeerConnection implementation; defaults to the global one. */
  RTCPeerConnection?: typeof RTCPeerConnection;
  /**
   * Called for every new connection before negotiation starts: add tracks and data channels
   * here (each addition triggers negotiation).
   */
  setup?(peer: RemotePeer): void;
  /**
   * How long a peer already in the room waits for a newcomer's first offer before making its
   * own (see above). @default 3000
   */
  answerWaitMs?: number;
}

export interface MeshEvents {
  /** A connection to a remote peer was created (setup already ran). */
  peer: [RemotePeer];
  /** The connection to a remote peer was closed (it left, or this client rejoined as new). */
  'peer-closed': [peerId: string];
  /**
   * Both sides offered at once: this side ignored the remote offer (impolite) or rolled back its
   * own to answer (polite). Informational; negotiation completes either way.
   */
  glare: [peerId: string, resolution: 'ignored' | 'rolled-back'];
  /**
   * Fresh ICE servers were applied to a connection (setConfiguration); `restarted` says whether
   * it was also ICE-restarted because its selected pair was relayed.
   */
  'ice-servers-applied': [peerId: string, restarted: boolean];
  /** A negotiation step failed for a peer (the connection stays; it may recover). */
  error: [peerId: string, error: unknown];
}

interface Negotiation extends RemotePeer {
  makingOffer: boolean;
  ignoreOffer: boolean;
  settingRemoteAnswer: boolean;
  /** Signaling messages of one peer are applied strictly in order. */
  chain: Promise<void>;
  /** Until the remote's first offer arrives (or answerWaitMs passes), this side does not offer. */
  awaitingOffer: Promise<void> | undefined;
  offerArrived: (() => void) | undefined;
  remoteOffered: boolean;
  waitTimer: ReturnType<typeof setTimeout> | undefined;
}

export class PeerMesh extends Emitter<MeshEvents> {
  readonly peers = new Map<string, RemotePeer>();
  private readonly entries = new Map<string, Negotiation>();
  private readonly PC: typeof RTCPeerConnection;
  private readonly unsubscribe: () => void;

  constructor(
    readonly client: SignalingClient,
    private readonly opts: PeerMeshOptions = {},
  ) {
    super();
    if (client.protocolVersion !== 2) throw new TypeError('PeerMesh needs protocol 2');
    const PC = opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    if (!PC) throw new TypeError('PeerMesh: no RTCPeerConnection available');
    this.PC = PC;
    const onWelcome = (w: Welcome) => this.onWelcome(w);
    const onJoined = (id: string) => this.ensure(id, 'answer');
    const onLeft = (id: string | undefined) => id !== undefined && this.drop(id);
    const onMessage = (m: ReceivedMessage) => this.onSignal(m);
    const onIceServers = () => this.onIceServers();
    client.on('welcome', onWelcome).on('peer-joined', onJoined);
    client.on('peer-left', onLeft).on('message', onMessage);
    client.on('ice-servers', onIceServers);
    this.unsubscribe = () => {
      client.off('welcome', onWelcome).off('peer-joined', onJoined);
      client.off('peer-left', onLeft).off('message', onMessage);
      client.off('ice-servers', onIceServers);
    };
    // Attached after the welcome already arrived: start from the client's current view.
    if (client.peerId !== undefined) for (const id of client.peers) this.ensure(id, 'offer');
  }

  /** Close every connection and stop listening to the signaling client. */
  close(): void {
    this.unsubscribe();
    for (const id of [...this.entries.keys()]) this.drop(id);
  }

  /** The app's ICE servers followed by the server's current ones. */
  private iceServers(): RTCIceServer[] {
    return [...(this.opts.rtcConfig?.iceServers ?? []), ...this.client.iceServers];
  }

  /** Fresh ICE servers from the server: apply them; restart relayed connections (see above). */
  private onIceServers(): void {
    const iceServers = this.iceServers();
    for (const n of this.entries.values()) {
      const pc = n.pc;
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
      } catch (err) {
        this.emit('error', n.id, err);
        continue;
      }
      if (this.opts.restartRelayedOnRefresh === false) {
        this.emit('ice-servers-applied', n.id, false);
        continue;
      }
      relayedByThisSide(pc).then(
        (relayed) => {
          if (this.entries.get(n.id) !== n) return;
          if (relayed) pc.restartIce();
          this.emit('ice-servers-applied', n.id, relayed);
        },
        (err: unknown) => this.emit('error', n.id, err),
      );
    }
  }

  private onWelcome(w: Welcome): void {
    // A welcome after a reconnect: a new own id, so every existing connection is stale.
    for (const id of [...this.entries.keys()]) this.drop(id);
    for (const id of w.peers) this.ensure(id, 'offer');
  }

  /** @param first whether this side makes the first offer or waits for the remote's */
  private ensure(peerId: string, first: 'offer' | 'answer'): Negotiation {
    const existing = this.entries.get(peerId);
    if (existing) return existing;
    const self = this.client.peerId ?? '';
    const pc = new this.PC({ ...this.opts.rtcConfig, iceServers: this.iceServers() });
    const n: Negotiation = {
      id: peerId,
      pc,
      polite: self < peerId,
      makingOffer: false,
      ignoreOffer: false,
      settingRemoteAnswer: false,
      chain: Promise.resolve(),
      awaitingOffer: undefined,
      offerArrived: undefined,
      remoteOffered: false,
      waitTimer: undefined,
    };
    if (first === 'answer') {
      n.awaitingOffer = new Promise<void>((resolve) => {
        n.offerArrived = resolve;
        n.waitTimer = setTimeout(resolve, this.opts.answerWaitMs ?? 3000);
      });
    }
    this.entries.set(peerId, n);
    const peer: RemotePeer = { id: n.id, pc, polite: n.polite };
    this.peers.set(peerId, peer);

    pc.onicecandidate = ({ candidate }) => {
      // The end-of-candidates marker has an empty candidate string, which SPEC.md §2 rejects;
      // it is optional for the remote side, so it is not sent.
      if (!candidate || !candidate.candidate) return;
      const msg: { type: 'candidate'; candidate: string; sdpMid?: string; sdpMLineIndex?: number } =
        { type: 'candidate', candidate: candidate.candidate };
      if (candidate.sdpMid != null) msg.sdpMid = candidate.sdpMid;
      if (candidate.sdpMLineIndex != null) msg.sdpMLineIndex = candidate.sdpMLineIndex;
      this.client.send({ ...msg, to: peerId });
    };
    pc.onnegotiationneeded = async () => {
      const wait = n.awaitingOffer;
      if (wait) {
        await wait;
        if (this.entries.get(peerId) !== n) return;
        // Only the first negotiationneeded that waited may conclude the answer covered it:
        // answering the remote's offer negotiated what was pending, and should anything
        // remain, the browser fires negotiationneeded again once the connection is stable.
        if (n.awaitingOffer === wait) {
          n.awaitingOffer = undefined;
          if (n.remoteOffered) return;
        }
      }
      try {
        n.makingOffer = true;
        await pc.setLocalDescription();
        // Usually an offer; but if a remote offer was applied while this was queued, the
        // implicit setLocalDescription() produced the answer to it, which must go out too.
        const d = pc.localDescription;
        if (d && (d.type === 'offer' || d.type === 'answer'))
          this.client.send({ type: d.type, sdp: d.sdp, to: peerId });
      } catch (err) {
        this.emit('error', peerId, err);
      } finally {
        n.makingOffer = false;
      }
    };
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === 'failed') pc.restartIce();
    };
    this.opts.setup?.(peer);
    this.emit('peer', peer);
    return n;
  }

  private drop(peerId: string): void {
    const n = this.entries.get(peerId);
    if (!n) return;
    this.entries.delete(peerId);
    this.peers.delete(peerId);
    clearTimeout(n.waitTimer);
    n.offerArrived?.();
    n.pc.onicecandidate = null;
    n.pc.onnegotiationneeded = null;
    n.pc.oniceconnectionstatechange = null;
    n.pc.close();
    this.emit('peer-closed', peerId);
  }

  private onSignal(m: ReceivedMessage): void {
    if (m.from === undefined) return;
    if (m.type !== 'offer' && m.type !== 'answer' && m.type !== 'candidate') return;
    // Only an offer starts a connection: a stray answer or candidate from a peer this side has
    // no connection with (one that just left, say) must not create one.
    const n = m.type === 'offer' ? this.ensure(m.from, 'answer') : this.entries.get(m.from);
    if (!n) return;
    n.chain = n.chain
      .then(() => this.apply(n, m))
      .catch((err: unknown) => {
        if (this.entries.get(n.id) === n) this.emit('error', n.id, err);
      });
  }

  /** The perfect negotiation receive side, as in the WebRTC specification's example. */
  private async apply(n: Negotiation, m: ReceivedMessage): Promise<void> {
    const pc = n.pc;
    if (this.entries.get(n.id) !== n) return; // dropped meanwhile
    if (m.type === 'offer' || m.type === 'answer') {
      const readyForOffer =
        !n.makingOffer && (pc.signalingState === 'stable' || n.settingRemoteAnswer);
      const collision = m.type === 'offer' && !readyForOffer;
      n.ignoreOffer = !n.polite && collision;
      if (collision) this.emit('glare', n.id, n.ignoreOffer ? 'ignored' : 'rolled-back');
      if (n.ignoreOffer) return;
      n.settingRemoteAnswer = m.type === 'answer';
      // For the polite side in a collision this rolls back its own offer implicitly.
      await pc.setRemoteDescription({ type: m.type, sdp: m.sdp });
      n.settingRemoteAnswer = false;
      if (m.type === 'offer') {
        n.remoteOffered = true;
        clearTimeout(n.waitTimer);
        n.offerArrived?.();
        await pc.setLocalDescription();
        const d = pc.localDescription;
        if (d) this.client.send({ type: 'answer', sdp: d.sdp, to: n.id });
      }
      return;
    }
    if (m.type === 'candidate') {
      try {
        const init: RTCIceCandidateInit = { candidate: m.candidate };
        if (m.sdpMid !== undefined) init.sdpMid = m.sdpMid;
        if (m.sdpMLineIndex !== undefined) init.sdpMLineIndex = m.sdpMLineIndex;
        await pc.addIceCandidate(init);
      } catch (err) {
        // Candidates of an offer this side ignored fail to apply; that is expected.
        if (!n.ignoreOffer) throw err;
      }
    }
  }
}

/** Whether the connection's selected candidate pair uses a relay candidate of this side. */
async function relayedByThisSide(pc: RTCPeerConnection): Promise<boolean> {
  const stats = await pc.getStats();
  let pairId: string | undefined;
  stats.forEach((r: { type: string; selectedCandidatePairId?: string }) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  const pair = pairId === undefined ? undefined : stats.get(pairId);
  const local = pair
    ? stats.get((pair as { localCandidateId: string }).localCandidateId)
    : undefined;
  return (local as { candidateType?: string } | undefined)?.candidateType === 'relay';
}
