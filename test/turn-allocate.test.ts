/**
 * SPEC.md §12 against a real coturn, without a browser: credentials minted by Switchboard (over
 * GET /ice-servers and in the v2 welcome) make a TURN Allocate succeed; expired ones, ones signed
 * with another secret, and a username coturn cannot parse are refused. Secret rotation: coturn
 * with two static-auth-secrets accepts credentials signed with either.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { turnCredential, turnUser } from '../src/server/turn-credentials.js';
import { startCoturn, type Coturn } from './helpers/coturn.js';
import { SECRET, signHs } from './helpers/jwt.js';
import { connect, startServer, type TestServer } from './helpers/server.js';
import { TurnClient } from './helpers/turn-client.js';

const TURN_SECRET = 'turn-secret-for-tests-0123456789abcdef';
const OLD_SECRET = 'previous-turn-secret-0123456789abcdef';

interface IceServerJson {
  urls: string[];
  username?: string;
  credential?: string;
}

let coturn: Coturn;
let s: TestServer;
before(
  async () => {
    coturn = await startCoturn({ secrets: [TURN_SECRET, OLD_SECRET] });
    s = await startServer({
      turnUrls: [coturn.url],
      turnSecret: TURN_SECRET,
      stunUrls: [`stun:127.0.0.1:${coturn.port}`],
      enableAuth: true,
      jwtSecret: SECRET,
    });
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await s?.close();
    await coturn?.stop();
  },
  { timeout: 30_000 },
);

async function allocate(username: string, password: string) {
  const client = new TurnClient('127.0.0.1', coturn.port);
  try {
    return await client.allocate(username, password);
  } finally {
    client.close();
  }
}

function turnEntry(list: IceServerJson[]): { username: string; credential: string } {
  const turn = list.find((e) => e.urls.some((u) => u.startsWith('turn:')));
  assert.ok(turn?.username && turn.credential, 'a TURN entry with a credential');
  return { username: turn.username, credential: turn.credential };
}

describe('TURN Allocate against coturn', { timeout: 60_000 }, () => {
  test('a credential from GET /ice-servers allocates a relay; its user is the token sub', async () => {
    const token = await signHs({ sub: 'alice@example.com', rooms: ['turn-room'] });
    const res = await fetch(`http://127.0.0.1:${s.port}/ice-servers?roomId=turn-room`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { iceServers: IceServerJson[]; ttl: number };
    const { username, credential } = turnEntry(body.iceServers);
    assert.match(username, /^\d+:alice@example\.com$/);
    const r = await allocate(username, credential);
    assert.equal(r.kind, 'success', `Allocate refused: ${r.errorCode} ${r.reason}`);
    assert.match(TurnClient.relayedAddress(r) ?? '', /^127\.0\.0\.1:\d+$/);
  });

  test('a credential from the v2 welcome (peer id user) allocates a relay', async () => {
    const token = await signHs({ rooms: ['turn-room'] }); // no sub: the peer id is the user
    const c = await connect(s.url, { roomId: 'turn-room', v: 2, query: `token=${token}` });
    const welcome = (await c.next()) as {
      payload: { peerId: string; iceServers: IceServerJson[] };
    };
    c.ws.close();
    const { username, credential } = turnEntry(welcome.payload.iceServers);
    assert.match(welcome.payload.peerId, /^client:/);
    assert.equal(username.slice(username.indexOf(':') + 1), welcome.payload.peerId);
    const r = await allocate(username, credential);
    assert.equal(r.kind, 'success', `Allocate refused: ${r.errorCode} ${r.reason}`);
  });

  test('an expired credential is refused (401)', async () => {
    const past = Math.floor(Date.now() / 1000) - 5;
    const { username, credential } = turnCredential(TURN_SECRET, `client:${randomUUID()}`, past);
    const r = await allocate(username, credential);
    assert.equal(r.kind, 'error');
    assert.equal(r.errorCode, 401);
  });

  test('a credential signed with a secret coturn does not know is refused (401)', async () => {
    const future = Math.floor(Date.now() / 1000) + 600;
    const { username, credential } = turnCredential('not-the-secret', 'client:x', future);
    const r = await allocate(username, credential);
    assert.equal(r.kind, 'error');
    assert.equal(r.errorCode, 401);
  });

  test('secret rotation: a credential signed with the other listed secret is accepted', async () => {
    const future = Math.floor(Date.now() / 1000) + 600;
    const { username, credential } = turnCredential(OLD_SECRET, `client:${randomUUID()}`, future);
    const r = await allocate(username, credential);
    assert.equal(r.kind, 'success', `Allocate refused: ${r.errorCode} ${r.reason}`);
  });

  test('a subject coturn would refuse as a username is hashed into one it accepts', async () => {
    const future = Math.floor(Date.now() / 1000) + 600;
    const odd = `Bob "the builder" O'Neil`;
    // As is, coturn refuses the username (400: it rejects quotes and spaces).
    const raw = turnCredential(TURN_SECRET, odd, future);
    const refused = await allocate(raw.username, raw.credential);
    assert.equal(refused.kind, 'error');
    assert.equal(refused.errorCode, 400);
    const user = turnUser(odd);
    assert.match(user, /^sub-[0-9a-f]{32}$/);
    const ok = turnCredential(TURN_SECRET, user, future);
    const r = await allocate(ok.username, ok.credential);
    assert.equal(r.kind, 'success', `Allocate refused: ${r.errorCode} ${r.reason}`);
  });
});
