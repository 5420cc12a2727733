/**
 * The SDK's side of SPEC.md §12 in Node against a real server: the welcome's iceServers, the
 * `ice-servers` refresh event, and how PeerMesh uses them (merged with the app's own servers;
 * setConfiguration on refresh; ICE restart only for relayed connections). The RTCPeerConnection
 * here is a recording stand-in; test/browser-turn.test.ts proves the same with Chromium.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { connect, PeerMesh, type IceServer, type SignalingClient } from '../client/index.js';
import { startServer, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
const clients: SignalingClient[] = [];
after(
  async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
  },
  { timeout: 30_000 },
);

const ICE = {
  stunUrls: ['stun:127.0.0.1:3478'],
  turnUrls: ['turn:127.0.0.1:3478'],
  turnSecret: 'client-ice-secret',
  turnTtlSeconds: 2,
};

function client(url: string, roomId: string): SignalingClient {
  const c = connect({ url, roomId, WebSocket, reconnect: false });
  clients.push(c);
  return c;
}

function nextEvent<T>(on: (resolve: (v: T) => void) => void, what: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    on((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

/** Records what PeerMesh does with a connection's configuration. */
class RecordingPC {
  static relayed = true;
  config: RTCConfiguration;
  readonly setConfigurations: RTCConfiguration[] = [];
  restarts = 0;
  onicecandidate: unknown = null;
  onnegotiationneeded: unknown = null;
  oniceconnectionstatechange: unknown = null;
  constructor(config: RTCConfiguration) {
    this.config = config;
  }
  getConfiguration(): RTCConfiguration {
    return this.config;
  }
  setConfiguration(c: RTCConfiguration): void {
    this.config = c;
    this.setConfigurations.push(c);
  }
  restartIce(): void {
    this.restarts++;
  }
  getStats(): Promise<Map<string, Record<string, unknown>>> {
    return Promise.resolve(
      new Map<string, Record<string, unknown>>([
        ['T', { type: 'transport', selectedCandidatePairId: 'P' }],
        ['P', { type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R' }],
        ['L', { type: 'local-candidate', candidateType: RecordingPC.relayed ? 'relay' : 'host' }],
        ['R', { type: 'remote-candidate', candidateType: 'host' }],
      ]),
    );
  }
  close(): void {}
}

test(
  'welcome iceServers and the ice-servers refresh reach the app',
  { timeout: 20_000 },
  async () => {
    const s = await startServer(ICE);
    servers.push(s);
    const a = client(s.url, 'sdk-ice');
    const [welcome] = await nextEvent<[{ iceServers?: IceServer[] }]>(
      (r) => a.once('welcome', (...args) => r(args)),
      'welcome',
    );
    assert.equal(welcome.iceServers?.length, 2);
    assert.deepEqual(a.iceServers, welcome.iceServers);
    const [fresh] = await nextEvent<[IceServer[]]>(
      (r) => a.once('ice-servers', (...args) => r(args)),
      'ice-servers',
    );
    assert.equal(fresh.length, 2);
    assert.notEqual(fresh[1]!.username, welcome.iceServers![1]!.username);
    assert.deepEqual(a.iceServers, fresh);

    // A peer cannot pose as the server: its control 'ice-servers' carries `from` and is a message.
    const b = client(s.url, 'sdk-ice');
    await b.ready;
    const forged = nextEvent<unknown>((r) => a.once('message', r), 'message');
    b.send({
      type: 'control',
      action: 'ice-servers',
      payload: { iceServers: [{ urls: ['turn:evil.example'] }] },
    });
    await forged;
    assert.notDeepEqual(a.iceServers[0], { urls: ['turn:evil.example'] });
  },
);

test(
  'PeerMesh: app + server ICE servers; refresh → setConfiguration, restart if relayed',
  { timeout: 20_000 },
  async () => {
    const s = await startServer(ICE);
    servers.push(s);
    const app: RTCIceServer = { urls: 'stun:app.example.com:3478' };
    const make = (restartRelayedOnRefresh: boolean) => {
      const c = client(s.url, `sdk-mesh-${restartRelayedOnRefresh}`);
      const mesh = new PeerMesh(c, {
        RTCPeerConnection: RecordingPC as unknown as typeof RTCPeerConnection,
        rtcConfig: { iceServers: [app], iceTransportPolicy: 'relay' },
        restartRelayedOnRefresh,
      });
      return { c, mesh };
    };
    for (const restart of [true, false]) {
      const first = make(restart);
      await first.c.ready;
      const second = make(restart);
      await second.c.ready;
      // The second joined with the first in its welcome, so it built a connection right away.
      const peer = [...second.mesh.peers.values()][0];
      assert.ok(peer, 'a connection to the first');
      const pc = peer.pc as unknown as RecordingPC;
      assert.equal(pc.config.iceServers?.length, 3, 'the app server and the two from the server');
      assert.deepEqual(pc.config.iceServers![0], app);
      assert.equal(pc.config.iceTransportPolicy, 'relay');
      const mesh = second.mesh;
      const [, restarted] = await nextEvent<[string, boolean]>(
        (r) => mesh.once('ice-servers-applied', (...args) => r(args)),
        'ice-servers-applied',
      );
      assert.equal(pc.setConfigurations.length, 1);
      const applied = pc.setConfigurations.at(-1)!;
      assert.equal(applied.iceTransportPolicy, 'relay', 'the rest of the configuration is kept');
      assert.deepEqual(applied.iceServers![0], app);
      assert.equal(restarted, restart);
      assert.equal(pc.restarts > 0, restart);
      first.mesh.close();
      second.mesh.close();
    }
  },
);
