/**
 * SPEC.md §13, one node: a v2 connection cut without a close frame (a TCP proxy destroys both
 * sockets) is detached; `resume=TOKEN` gives back the same peer id and exactly the messages sent
 * meanwhile, in order, once; nobody sees it leave. Window end and overflow are ordinary leaves;
 * an unknown, used, forged or other-room token is a normal join. The same suite runs on the
 * memory backend and on a real Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../src/config.js';
import { RedisServer } from './helpers/redis.js';
import {
  connect,
  expectSilence,
  startServer,
  until,
  type TestClient,
  type TestServer,
} from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

interface Welcome {
  type: 'control';
  action: 'welcome';
  payload: {
    peerId: string;
    roomId: string;
    peers: string[];
    resumeToken?: string;
    resumed?: boolean;
  };
}

type Member = TestClient & { welcome: Welcome['payload'] };

async function member(url: string, roomId: string, resume?: string): Promise<Member> {
  const query = resume === undefined ? undefined : `resume=${encodeURIComponent(resume)}`;
  const c = await connect(url, { roomId, v: 2, query });
  const w = (await c.next(5000)) as Welcome;
  assert.equal(w.action, 'welcome', JSON.stringify(w));
  return Object.assign(c, { welcome: w.payload });
}

let roomSeq = 0;
const newRoom = () => `resume-${process.pid}-${++roomSeq}`;

function suite(name: string, overrides: () => Partial<Config>): void {
  describe(`resume (${name})`, { timeout: 60_000 }, () => {
    const servers: TestServer[] = [];
    const clients: TestClient[] = [];
    const proxies: TcpProxy[] = [];

    async function start(extra: Partial<Config> = {}): Promise<TestServer> {
      const t = await startServer({ ...overrides(), ...extra });
      servers.push(t);
      return t;
    }

    async function viaProxy(t: TestServer): Promise<TcpProxy> {
      const p = await TcpProxy.start(t.port);
      proxies.push(p);
      return p;
    }

    async function add(url: string, roomId: string, resume?: string): Promise<Member> {
      const c = await member(url, roomId, resume);
      clients.push(c);
      return c;
    }

    /** Cut the proxied client and wait until the server has detached it. */
    async function cut(t: TestServer, proxy: TcpProxy, detached = 1): Promise<void> {
      proxy.sever();
      await until(() => t.server.resume.detachedHere === detached, 5000, 'peer detached');
    }

    after(
      async () => {
        for (const c of clients) c.ws.terminate();
        for (const p of proxies) await p.close();
        for (const t of servers) await t.close();
      },
      { timeout: 60_000 },
    );

    test('every v2 welcome carries a resume token of at least 128 random bits', async () => {
      const t = await start();
      const room = newRoom();
      const a = await add(t.url, room);
      const b = await add(t.url, room);
      for (const w of [a.welcome, b.welcome]) {
        // 24 base64url characters: 144 random bits; then the peer id it resumes.
        assert.match(w.resumeToken ?? '', /^[A-Za-z0-9_-]{24}\.client:[0-9a-f-]{36}$/);
        assert.equal(w.resumed, undefined, 'a welcome not answering resume= has no resumed');
      }
      assert.notEqual(a.welcome.resumeToken, b.welcome.resumeToken);
    });

    test('a cut connection resumes: same id, exactly the N messages of the gap in order, nobody sees it leave', async () => {
      const t = await start();
      const proxy = await viaProxy(t);
      const room = newRoom();
      const a = await add(proxy.url, room);
      const b = await add(t.url, room);
      assert.deepEqual(((await a.next(5000)) as { payload: unknown }).payload, {
        peerId: b.welcome.peerId,
      });
      await cut(t, proxy);
      const N = 40;
      for (let i = 0; i < N; i++) {
        const msg = { type: 'control', action: 'gap', payload: i };
        b.send(i % 2 === 0 ? msg : { ...msg, to: a.welcome.peerId });
      }
      const a2 = await add(t.url, room, a.welcome.resumeToken);
      assert.equal(a2.welcome.resumed, true);
      assert.equal(a2.welcome.peerId, a.welcome.peerId);
      assert.deepEqual(a2.welcome.peers, [b.welcome.peerId]);
      assert.notEqual(a2.welcome.resumeToken, a.welcome.resumeToken);
      for (let i = 0; i < N; i++) {
        const m = (await a2.next(5000)) as { action: string; payload: number; from: string };
        assert.deepEqual(
          [m.action, m.payload, m.from],
          ['gap', i, b.welcome.peerId],
          `message ${i} in order`,
        );
      }
      // Then live traffic, with nothing repeated in between.
      b.send({ type: 'control', action: 'live' });
      assert.equal(((await a2.next(5000)) as { action: string }).action, 'live');
      // And the other peer saw nothing: its next message is A's, no peer-disconnected/joined.
      a2.send({ type: 'control', action: 'back' });
      assert.equal(((await b.next(5000)) as { action: string }).action, 'back');
      await expectSilence(b, 100);
      assert.equal(t.server.resume.detachedHere, 0);
      assert.match(t.logs.text, /"msg":"peer resumed"/);
      assert.match(t.logs.text, /"detachedMs":\d+/);
      assert.ok(!t.logs.text.includes(a.welcome.resumeToken!), 'token never logged');
      assert.ok(!t.logs.text.includes(a2.welcome.resumeToken!), 'token never logged');
    });

    test('the window ends: the others get peer-disconnected once, not before the window', async () => {
      const windowMs = 600;
      const t = await start({ resumeWindowMs: windowMs });
      const proxy = await viaProxy(t);
      const room = newRoom();
      const a = await add(proxy.url, room);
      const b = await add(t.url, room);
      const c = await add(t.url, room);
      await a.next(5000);
      await a.next(5000);
      await b.next(5000);
      const cutAt = Date.now();
      await cut(t, proxy);
      for (const x of [b, c]) {
        const m = (await x.next(5000)) as { type: string; peerId: string };
        assert.deepEqual(m, { type: 'peer-disconnected', peerId: a.welcome.peerId });
        assert.ok(Date.now() - cutAt >= windowMs, `not before the window (${Date.now() - cutAt})`);
      }
      await expectSilence(b, 300);
      await expectSilence(c, 1);
      const late = await add(t.url, room, a.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.welcome.peerId, a.welcome.peerId);
    });

    test('mailbox overflow ends the session at once (a leave); the token then gives resumed:false and nothing kept', async () => {
      const t = await start({ resumeMailboxBytes: 2048 });
      const proxy = await viaProxy(t);
      const room = newRoom();
      const a = await add(proxy.url, room);
      const b = await add(t.url, room);
      await a.next(5000);
      await cut(t, proxy);
      for (let i = 0; i < 40; i++)
        b.send({ type: 'control', action: 'fill', payload: 'x'.repeat(100) });
      assert.deepEqual(await b.next(5000), { type: 'peer-disconnected', peerId: a.welcome.peerId });
      const again = await add(t.url, room, a.welcome.resumeToken);
      assert.equal(again.welcome.resumed, false);
      assert.notEqual(again.welcome.peerId, a.welcome.peerId);
      await expectSilence(again, 200);
    });

    test('a used token, a forged token and a token of another room each give resumed:false and no other session', async () => {
      const t = await start();
      const proxy = await viaProxy(t);
      const room = newRoom();
      const other = newRoom();
      const a = await add(proxy.url, room);
      const b = await add(t.url, room);
      await a.next(5000);
      await cut(t, proxy);
      b.send({ type: 'control', action: 'for-a' });

      const forged = await add(t.url, room, 'A'.repeat(24));
      assert.equal(forged.welcome.resumed, false);
      assert.notEqual(forged.welcome.peerId, a.welcome.peerId);
      const elsewhere = await add(t.url, other, a.welcome.resumeToken);
      assert.equal(elsewhere.welcome.resumed, false);
      assert.equal(elsewhere.welcome.roomId, other);
      assert.deepEqual(elsewhere.welcome.peers, []);
      await expectSilence(elsewhere, 100);

      // The session survived both: the rightful resume gets its message.
      const a2 = await add(t.url, room, a.welcome.resumeToken);
      assert.equal(a2.welcome.resumed, true);
      assert.equal(((await a2.next(5000)) as { action: string }).action, 'for-a');
      const reused = await add(t.url, room, a.welcome.resumeToken);
      assert.equal(reused.welcome.resumed, false);
      assert.notEqual(reused.welcome.peerId, a.welcome.peerId);
      // Nothing kept for A reaches the forged or reused peers (only the join notices).
      for (const x of [forged, reused]) {
        for (const m of x.buffered) assert.notEqual((m as { action?: string }).action, 'for-a');
      }
    });

    test('a heartbeat timeout detaches like a cut: the resume gets what was sent meanwhile', async () => {
      // Long enough that the other client, under a loaded machine, still answers its pings in time.
      const t = await start({ heartbeatIntervalMs: 500 });
      const room = newRoom();
      const silent = await connect(t.url, { roomId: room, v: 2, autoPong: false });
      clients.push(silent);
      const w = ((await silent.next(5000)) as Welcome).payload;
      const b = await add(t.url, room);
      assert.equal((await silent.closed).code, 1006, 'terminated by the heartbeat');
      await until(() => t.server.resume.detachedHere === 1, 5000, 'detached');
      assert.match(t.logs.text, /"cause":"heartbeat","msg":"peer detached"/);
      b.send({ type: 'control', action: 'while-away' });
      const back = await add(t.url, room, w.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.equal(back.welcome.peerId, w.peerId);
      assert.equal(((await back.next(5000)) as { action: string }).action, 'while-away');
      await expectSilence(b, 100);
    });

    test('a resume while the old connection still looks open (half-open) takes it over', async () => {
      const t = await start();
      const room = newRoom();
      const a = await add(t.url, room);
      const b = await add(t.url, room);
      await a.next(5000);
      const a2 = await add(t.url, room, a.welcome.resumeToken);
      assert.equal(a2.welcome.resumed, true);
      assert.equal(a2.welcome.peerId, a.welcome.peerId);
      assert.equal((await a.closed).code, 1006, 'the old connection is dropped');
      b.send({ type: 'control', action: 'after' });
      assert.equal(((await a2.next(5000)) as { action: string }).action, 'after');
      await expectSilence(b, 100);
    });

    test('a close frame from the client is a leave at once, never a detach', async () => {
      const t = await start();
      const room = newRoom();
      const a = await add(t.url, room);
      const b = await add(t.url, room);
      await a.next(5000);
      a.ws.close(1001);
      assert.deepEqual(await b.next(5000), { type: 'peer-disconnected', peerId: a.welcome.peerId });
      assert.equal(t.server.resume.detachedHere, 0);
    });

    test('v1 connections are never detached', async () => {
      const t = await start();
      const proxy = await viaProxy(t);
      const room = newRoom();
      const a = await connect(proxy.url, { roomId: room });
      clients.push(a);
      const b = await add(t.url, room);
      await until(() => (t.server.hub.get(room)?.peers.size ?? 0) === 2);
      proxy.sever();
      assert.deepEqual((await b.next(5000)) as { type: string }, {
        type: 'peer-disconnected',
        peerId: (b.welcome.peers[0] ?? '') as string,
      });
      assert.equal(t.server.resume.detachedHere, 0);
    });

    test('RESUME_WINDOW_MS=0 disables resume: no token, a cut is a leave', async () => {
      const t = await start({ resumeWindowMs: 0 });
      const proxy = await viaProxy(t);
      const room = newRoom();
      const a = await add(proxy.url, room);
      assert.equal(a.welcome.resumeToken, undefined);
      const b = await add(t.url, room);
      proxy.sever();
      assert.deepEqual(await b.next(5000), { type: 'peer-disconnected', peerId: a.welcome.peerId });
    });
  });
}

suite('memory', () => ({}));

let redis: RedisServer | undefined;
before(
  async () => {
    redis = await RedisServer.start();
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await redis?.stop();
  },
  { timeout: 60_000 },
);
suite('redis', () => ({ redisUrl: redis!.url, redisKeyPrefix: `t${process.pid}:` }));
