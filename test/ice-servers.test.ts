/**
 * SPEC.md §12, pure parts: the TURN REST credential against a known vector, the user form,
 * URL and config validation (exit 2, one line, the secret never printed), and the refresh
 * wheel's schedule (spread, budget, forgetting closed connections) on a fake clock.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { describe, mock, test } from 'node:test';
import { Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import { DEFAULTS, loadConfig, type Config } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createMetrics } from '../src/metrics.js';
import { IceServers } from '../src/server/ice-servers.js';
import { Peer, type PeerHost } from '../src/server/peer.js';
import { isIceUrl, turnCredential, turnUser } from '../src/server/turn-credentials.js';
import { runCli } from './helpers/process.js';

describe('TURN REST credential', () => {
  test('matches a vector computed with openssl', () => {
    // printf '1700000000:client:6f1c…' | openssl dgst -sha1 -hmac 'north-wind-secret' -binary | base64
    const c = turnCredential(
      'north-wind-secret',
      'client:6f1c2f3e-8a4b-4c1d-9e2f-0a1b2c3d4e5f',
      1_700_000_000,
    );
    assert.deepEqual(c, {
      username: '1700000000:client:6f1c2f3e-8a4b-4c1d-9e2f-0a1b2c3d4e5f',
      credential: 'TGcynINqKeFwdmQbZQl1Qm3fO/Q=',
    });
  });

  test('the user: peer ids and plain subjects as they are, anything coturn refuses hashed', () => {
    assert.equal(turnUser('client:6f1c2f3e'), 'client:6f1c2f3e');
    assert.equal(turnUser('alice@example.com'), 'alice@example.com');
    assert.equal(turnUser('auth0|12345'), 'auth0|12345');
    // printf '%s' 'Bob "the builder" O'"'"'Neil' | sha256sum
    assert.equal(turnUser(`Bob "the builder" O'Neil`), 'sub-39b6b55dccbbeb64fe79914ab4e57b8f');
    for (const odd of ['', 'a b', 'tab\there', 'back\\slash', 'é', 'x'.repeat(129), 'UNION SELECT'])
      assert.match(turnUser(odd), /^sub-[0-9a-f]{32}$/, JSON.stringify(odd));
    assert.match(turnUser('unionselect'), /^sub-/);
    assert.equal(turnUser('x'.repeat(128)), 'x'.repeat(128));
  });

  test('STUN and TURN URLs (RFC 7064 / 7065)', () => {
    for (const ok of ['stun:stun.example.com', 'stun:127.0.0.1:3478', 'stuns:[::1]:5349'])
      assert.ok(isIceUrl(ok, 'stun'), ok);
    for (const ok of [
      'turn:turn.example.com',
      'turn:127.0.0.1:3478?transport=udp',
      'turns:turn.example.com:443?transport=tcp',
      'turn:[2001:db8::1]:3478',
    ])
      assert.ok(isIceUrl(ok, 'turn'), ok);
    for (const bad of [
      'turn:',
      'turn:host:0',
      'turn:host:70000',
      'turn:host?transport=sctp',
      'turn://host',
      'http://host',
      'stun:host',
      'turn:user@host',
      'turn:ho st',
    ])
      assert.ok(!isIceUrl(bad, 'turn'), bad);
    assert.ok(!isIceUrl('turn:host', 'stun'));
    assert.ok(!isIceUrl('stun:host?transport=udp', 'stun'));
  });
});

describe('ICE settings', () => {
  test('defaults: nothing offered, TTL one day', () => {
    const { config } = loadConfig({});
    assert.deepEqual(config.stunUrls, []);
    assert.deepEqual(config.turnUrls, []);
    assert.equal(config.turnSecret, undefined);
    assert.equal(config.turnTtlSeconds, 86400);
  });

  test('read from env and flags', () => {
    const { config } = loadConfig(
      {
        STUN_URLS: 'stun:a.example:3478, stun:b.example',
        TURN_URLS: 'turn:t.example:3478?transport=udp,turns:t.example:443?transport=tcp',
        TURN_SECRET: 's3cret',
      },
      ['--turn-ttl-seconds', '600'],
    );
    assert.deepEqual(config.stunUrls, ['stun:a.example:3478', 'stun:b.example']);
    assert.equal(config.turnUrls.length, 2);
    assert.equal(config.turnSecret, 's3cret');
    assert.equal(config.turnTtlSeconds, 600);
  });

  test('invalid combinations throw a ConfigError naming the setting', () => {
    const cases: [Record<string, string>, string][] = [
      [{ TURN_URLS: 'turn:t.example' }, 'TURN_SECRET'],
      [{ TURN_URLS: 'turn:', TURN_SECRET: 'x' }, 'TURN_URLS'],
      [{ TURN_URLS: 'https://t.example', TURN_SECRET: 'x' }, 'TURN_URLS'],
      [{ STUN_URLS: 'turn:t.example' }, 'STUN_URLS'],
      [{ TURN_TTL_SECONDS: '0' }, 'TURN_TTL_SECONDS'],
      [{ TURN_TTL_SECONDS: '-5' }, 'TURN_TTL_SECONDS'],
    ];
    for (const [env, setting] of cases)
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && err.setting === setting,
        JSON.stringify(env),
      );
    const { warnings } = loadConfig({ TURN_SECRET: 'x' });
    assert.match(warnings.join('\n'), /TURN_SECRET is set but TURN_URLS is not/);
  });

  test('the command exits 2 with one line naming the setting, never the secret', async () => {
    const secret = 'do-not-print-this-secret';
    for (const [env, name] of [
      [{ TURN_URLS: 'turn:t.example' }, 'TURN_SECRET'],
      [{ TURN_URLS: 'turn:t.example:99999', TURN_SECRET: secret }, 'TURN_URLS'],
      [{ TURN_TTL_SECONDS: '0', TURN_SECRET: secret }, 'TURN_TTL_SECONDS'],
    ] as const) {
      const child = runCli([], env);
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout!.resume();
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 2, err);
      const lines = err.trimEnd().split('\n');
      assert.equal(lines.length, 1, err);
      assert.ok(lines[0]!.includes(name), lines[0]);
      assert.ok(!err.includes(secret));
    }
  });
});

/** A socket stand-in for the wheel's unit tests: what Peer and IceServers touch. */
class FakeSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  send(buf: Buffer): void {
    this.sent.push(buf.toString());
  }
}

const host: PeerHost = {
  backpressureThreshold: 1 << 20,
  onOverloaded: () => undefined,
  onClosing: () => undefined,
};

function fakePeer(i: number): { peer: Peer; ws: FakeSocket } {
  const ws = new FakeSocket();
  const peer = new Peer(`client:${i}`, 'room', ws as unknown as WebSocket, '127.0.0.1', 2, host);
  peer.state = 'open';
  return { peer, ws };
}

describe('the refresh wheel (fake clock)', () => {
  const ttl = 100; // seconds; tick 500 ms; refresh due at 85–90 s
  const config: Config = {
    ...DEFAULTS,
    turnUrls: ['turn:127.0.0.1:3478'],
    turnSecret: 'wheel-secret',
    turnTtlSeconds: ttl,
  };

  test('refreshes every connection between 85 % and 90 % of the TTL, spread out, then again', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    let now = 1_000_000_000;
    let r = 0;
    const random = () => (r++ % 10) / 10; // 0, 0.1, … 0.9: spread evenly
    const ice = new IceServers(config, createMetrics(new Registry(), false), () => now, random);
    ice.start();
    const peers = Array.from({ length: 50 }, (_, i) => fakePeer(i));
    for (const { peer } of peers) assert.ok(ice.welcome(peer).iceServers);
    assert.equal(ice.scheduled, 50);

    const arrivals = new Map<number, number>(); // refresh time (s after welcome) → count
    for (let ms = 0; ms <= 95_000; ms += 500) {
      now = 1_000_000_000 + ms;
      mock.timers.tick(500);
      let n = 0;
      for (const { ws } of peers) n += ws.sent.splice(0).length;
      if (n > 0) arrivals.set(ms / 1000, n);
    }
    const times = [...arrivals.keys()];
    assert.equal(
      [...arrivals.values()].reduce((a, b) => a + b, 0),
      50,
      'each refreshed once',
    );
    assert.ok(Math.min(...times) >= 85 && Math.max(...times) <= 90.5, JSON.stringify(times));
    assert.ok(arrivals.size >= 5, `spread over ${arrivals.size} ticks`);
    assert.equal(ice.scheduled, 50, 'rescheduled for the next refresh');
    ice.stop();
  });

  test('a refresh carries a fresh credential for the same user', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    let now = 2_000_000_000;
    const ice = new IceServers(config, createMetrics(new Registry(), false), () => now);
    ice.start();
    const { peer, ws } = fakePeer(1);
    const first = ice.welcome(peer).iceServers![0]!;
    now += 91_000;
    mock.timers.tick(91_000);
    assert.equal(ws.sent.length, 1);
    const msg = JSON.parse(ws.sent[0]!) as {
      type: string;
      action: string;
      payload: { iceServers: { urls: string[]; username: string; credential: string }[] };
    };
    assert.equal(msg.type, 'control');
    assert.equal(msg.action, 'ice-servers');
    const next = msg.payload.iceServers[0]!;
    assert.deepEqual(next.urls, ['turn:127.0.0.1:3478']);
    assert.equal(next.username, `${Math.floor(now / 1000) + ttl}:client:1`);
    assert.notEqual(next.username, first.username);
    assert.deepEqual(
      { username: next.username, credential: next.credential },
      turnCredential('wheel-secret', 'client:1', Math.floor(now / 1000) + ttl),
    );
    ice.stop();
  });

  test('a closed connection leaves the wheel at once and is never sent to', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    let now = 3_000_000_000;
    const ice = new IceServers(config, createMetrics(new Registry(), false), () => now);
    ice.start();
    const a = fakePeer(1);
    const b = fakePeer(2);
    ice.welcome(a.peer);
    ice.welcome(b.peer);
    a.peer.state = 'left';
    a.ws.emit('close');
    assert.equal(ice.scheduled, 1);
    now += 91_000;
    mock.timers.tick(91_000);
    assert.equal(a.ws.sent.length, 0);
    assert.equal(b.ws.sent.length, 1);
    ice.stop();
  });

  test('at most 1000 refreshes per tick; the rest go out on the next ticks', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    let now = 4_000_000_000;
    const ice = new IceServers(
      config,
      createMetrics(new Registry(), false),
      () => now,
      () => 0,
    );
    ice.start();
    const peers = Array.from({ length: 2500 }, (_, i) => fakePeer(i));
    for (const { peer } of peers) ice.welcome(peer); // all due in the same slot (random 0)
    const perTick: number[] = [];
    for (let i = 0; i < 200; i++) {
      now += 500;
      mock.timers.tick(500);
      let n = 0;
      for (const { ws } of peers) n += ws.sent.splice(0).length;
      if (n > 0) perTick.push(n);
    }
    assert.deepEqual(perTick, [1000, 1000, 500]);
    ice.stop();
  });

  test('STUN only: welcome carries the URLs, no credential, nothing scheduled', () => {
    const ice = new IceServers(
      { ...DEFAULTS, stunUrls: ['stun:127.0.0.1:3478'] },
      createMetrics(new Registry(), false),
      Date.now,
    );
    const { peer } = fakePeer(1);
    assert.deepEqual(ice.welcome(peer), { iceServers: [{ urls: ['stun:127.0.0.1:3478'] }] });
    assert.equal(ice.scheduled, 0);
    const none = new IceServers(DEFAULTS, createMetrics(new Registry(), false), Date.now);
    assert.deepEqual(none.welcome(peer), {});
  });
});
