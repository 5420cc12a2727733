/**
 * Error boundaries (issue 10 §1): a throw in a handler that network input reaches costs that
 * connection, never the process, and is logged once per site. The throws are injected with
 * test doubles (a backend, an authenticator, a route that fail); the real-part check of the same
 * promise is test/network-fuzz.test.ts against the server process. A real JWKS endpoint that
 * answers garbage is also here.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Envelope } from '../src/backend/backend.js';
import { MemoryBackend } from '../src/backend/memory.js';
import { Close } from '../src/close-codes.js';
import type { Authenticator } from '../src/server/auth.js';
import { JwksServer, makeKey, sign } from './helpers/jwt.js';
import { connect, join, startServer, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });

async function serve(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const t = await startServer(...args);
  servers.push(t);
  return t;
}

/** Publishing an offer whose sdp is "boom" throws (a bug on the hot path). */
class ThrowingPublishBackend extends MemoryBackend {
  override publish(roomId: string, envelope: Envelope): void {
    if ((envelope.data as { sdp?: string }).sdp === 'boom') throw new Error('publish bug');
    super.publish(roomId, envelope);
  }
}

async function assertRelays(t: TestServer, roomId: string): Promise<void> {
  const x = await join(t, roomId);
  const y = await join(t, roomId);
  x.send({ type: 'offer', sdp: 'fine' });
  assert.deepEqual(await y.next(), { type: 'offer', sdp: 'fine' });
  await x.close();
  await y.close();
}

const faultLines = (t: TestServer) =>
  t.logs.lines.filter((l) =>
    l.includes('"msg":"handler failed; only its connection was affected"'),
  );

describe('error boundaries', () => {
  test('a throw on the frame path closes that sender 1011; its room and the server go on', async () => {
    const t = await serve({}, { backend: new ThrowingPublishBackend() });
    const a = await join(t, 'eb-frame');
    const b = await join(t, 'eb-frame');
    a.send({ type: 'offer', sdp: 'boom' });
    assert.deepEqual(await a.closed, Close.internalError);
    // b got the offer (local delivery runs before the publish) and then the leave.
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'boom' });
    assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
    // The same bug again: the connection is lost, the log line is not repeated.
    const c = await join(t, 'eb-frame');
    c.send({ type: 'offer', sdp: 'boom' });
    assert.deepEqual(await c.closed, Close.internalError);
    assert.equal(faultLines(t).length, 1);
    assert.match(faultLines(t)[0]!, /"site":"frame"/);
    await b.close();
    await assertRelays(t, 'eb-after');
  });

  test('an authenticator that throws refuses that client 1011; others are admitted', async () => {
    let calls = 0;
    const auth: Authenticator = {
      authenticate: () => {
        if (++calls === 1) throw new Error('auth bug');
        return Promise.resolve({ ok: true, expiresAt: undefined });
      },
      verifyToken: () => Promise.resolve({ ok: true, expiresAt: undefined }),
    };
    const t = await serve({}, { auth });
    const a = await connect(t.url, { roomId: 'eb-auth' });
    assert.deepEqual(await a.closed, Close.internalError);
    assert.match(faultLines(t)[0]!, /"site":"admission"/);
    await assertRelays(t, 'eb-auth');
  });

  test('an HTTP route that throws answers 500; the server keeps serving', async () => {
    const t = await serve(
      {},
      {
        extraRoute: (req) => {
          if (req.url === '/bug') throw new Error('route bug');
          return false;
        },
      },
    );
    const res = await fetch(`http://127.0.0.1:${t.port}/bug`);
    assert.equal(res.status, 500);
    assert.equal((await fetch(`http://127.0.0.1:${t.port}/healthz`)).status, 200);
    assert.match(faultLines(t)[0]!, /"site":"http-request"/);
    await assertRelays(t, 'eb-http');
  });

  test('a JWKS endpoint answering garbage: Unauthorized, never a crash', async () => {
    const key = await makeKey('RS256', 'k1');
    const bodies = [
      'not json',
      '{"keys":"x"}',
      '{"keys":[{"kty":"RSA","kid":"k1","n":1,"e":[]}]}',
      '{"keys":[null,1,"x"]}',
      '[]',
      '',
    ];
    for (const body of bodies) {
      const jwks = new GarbageJwks(body);
      const url = await jwks.start();
      const t = await serve({ enableAuth: true, jwksUrl: url, jwksCacheTtl: 100 });
      const token = await sign({ rooms: ['*'] }, key.privateKey, {
        alg: 'RS256',
        kid: 'k1',
        expIn: 60,
      });
      const c = await connect(t.url, { roomId: 'eb-jwks', query: `token=${token}` });
      assert.deepEqual(await c.closed, Close.unauthorized, body);
      assert.equal((await fetch(`http://127.0.0.1:${t.port}/healthz`)).status, 200);
      await jwks.stop();
    }
  });
});

/** A JWKS endpoint that always answers `body` with status 200. */
class GarbageJwks extends JwksServer {
  constructor(body: string) {
    super();
    this.respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    };
  }
}
