/**
 * The server API (SPEC.md §14) against a real server on the memory backend, with real
 * WebSocket clients: listing, inspecting, messaging and removing, keys, logs and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API_KEY, OTHER_API_KEY, api, errorCode } from './helpers/api.js';
import { ConfigError } from '../src/errors.js';
import { loadConfig } from '../src/config.js';
import { SECRET, sign } from './helpers/jwt.js';
import {
  connect,
  expectSilence,
  join,
  memberV2,
  startServer,
  until,
  type TestClient,
  type TestServer,
} from './helpers/server.js';

const TIMEOUT = { timeout: 60_000 };

test('API_KEYS: several keys accepted; a short or spaced key stops the start, never echoed', () => {
  assert.deepEqual(loadConfig({ API_KEYS: `${API_KEY}, ${OTHER_API_KEY}` }).config.apiKeys, [
    API_KEY,
    OTHER_API_KEY,
  ]);
  for (const bad of ['zz-short', `${API_KEY},zz-tiny`, 'a key with zz in it, long']) {
    assert.throws(
      () => loadConfig({ API_KEYS: bad }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.setting === 'API_KEYS' &&
        !err.message.includes('zz') &&
        !err.message.includes(API_KEY),
    );
  }
});

describe('server API off', TIMEOUT, () => {
  test('without API_KEYS every /api/ path answers 404, with or without a key, unlogged', async () => {
    const s = await startServer();
    try {
      for (const path of ['/api/v1/rooms', '/api/v1/openapi.json', '/api/', '/api/v1/rooms/x']) {
        const res = await api(s.port, 'GET', path);
        assert.equal(res.status, 404, path);
        assert.equal(errorCode(res), 'not_found');
      }
      assert.equal((await api(s.port, 'GET', '/api/v1/rooms', { key: null })).status, 404);
      assert.ok(!s.logs.text.includes('api request'), 'no API, no API log lines');
    } finally {
      await s.close();
    }
  });
});

describe('server API on the memory backend', TIMEOUT, () => {
  let s: TestServer;
  const clients: TestClient[] = [];
  before(
    async () => {
      s = await startServer({ apiKeys: [API_KEY, OTHER_API_KEY] });
    },
    { timeout: 60_000 },
  );
  after(
    async () => {
      for (const c of clients) c.ws.terminate();
      await s.close();
    },
    { timeout: 60_000 },
  );

  test('a missing, malformed or wrong key is 401 with a JSON error; any listed key is accepted', async () => {
    const variants: Record<string, string>[] = [
      {},
      { authorization: 'Basic abc' },
      { authorization: 'Bearer' },
    ];
    for (const headers of variants) {
      const res = await api(s.port, 'GET', '/api/v1/rooms', { key: null, headers });
      assert.equal(res.status, 401);
      assert.equal(errorCode(res), 'unauthorized');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
    assert.equal((await api(s.port, 'GET', '/api/v1/rooms', { key: API_KEY + 'x' })).status, 401);
    assert.equal((await api(s.port, 'GET', '/api/v1/rooms', { key: API_KEY })).status, 200);
    assert.equal((await api(s.port, 'GET', '/api/v1/rooms', { key: OTHER_API_KEY })).status, 200);
  });

  test('GET /api/v1/rooms/ROOM lists members with joinedAt and version; 404 when empty', async () => {
    const before = Date.now();
    const v1 = await join(s, 'inspect-1');
    const v2 = await memberV2(s.url, 'inspect-1', clients);
    clients.push(v1);
    const res = await api(s.port, 'GET', '/api/v1/rooms/inspect-1');
    assert.equal(res.status, 200);
    const body = res.body as {
      roomId: string;
      members: { peerId: string; joinedAt: string; version: number; subject?: string }[];
    };
    assert.equal(body.roomId, 'inspect-1');
    assert.equal(body.members.length, 2);
    assert.deepEqual(
      body.members.map((m) => m.version),
      [1, 2],
      'in order of joining',
    );
    assert.equal(body.members[1]!.peerId, v2.id);
    for (const m of body.members) {
      assert.match(m.peerId, /^client:/);
      const t = Date.parse(m.joinedAt);
      assert.ok(t >= before - 1000 && t <= Date.now() + 1000, m.joinedAt);
      assert.equal(m.subject, undefined);
    }
    const empty = await api(s.port, 'GET', '/api/v1/rooms/nobody-here');
    assert.equal(empty.status, 404);
    assert.equal(errorCode(empty), 'room_not_found');
  });

  test('a broadcast reaches every member as from peer id `server` (v1 unchanged, v2 with from)', async () => {
    const v1 = await join(s, 'say-1');
    clients.push(v1);
    const v2 = await memberV2(s.url, 'say-1', clients);
    const message = { type: 'control', action: 'game-over', payload: { winner: 'red' } };
    const res = await api(s.port, 'POST', '/api/v1/rooms/say-1/messages', {
      body: { message: { ...message, extra: 'dropped' } },
    });
    assert.equal(res.status, 202);
    assert.deepEqual(await v1.next(), message);
    assert.deepEqual(await v2.next(), { ...message, from: 'server' });
  });

  test('a directed message reaches only its target; unknown room or peer is 404', async () => {
    const a = await memberV2(s.url, 'say-2', clients);
    const b = await memberV2(s.url, 'say-2', clients);
    await a.next(); // b's peer-joined
    const res = await api(s.port, 'POST', '/api/v1/rooms/say-2/messages', {
      body: { message: { type: 'offer', sdp: 'v=0' }, to: b.id },
    });
    assert.equal(res.status, 202);
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'v=0', from: 'server' });
    await expectSilence(a);

    const noRoom = await api(s.port, 'POST', '/api/v1/rooms/say-none/messages', {
      body: { message: { type: 'offer', sdp: 'v=0' } },
    });
    assert.equal(noRoom.status, 404);
    assert.equal(errorCode(noRoom), 'room_not_found');
    const noPeer = await api(s.port, 'POST', '/api/v1/rooms/say-2/messages', {
      body: { message: { type: 'offer', sdp: 'v=0' }, to: 'client:nobody' },
    });
    assert.equal(noPeer.status, 404);
    assert.equal(errorCode(noPeer), 'peer_not_found');
    const bad = await api(s.port, 'POST', '/api/v1/rooms/say-2/messages', {
      body: { message: { type: 'offer' } },
    });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'invalid_message');
  });

  test('DELETE a peer closes it 4001 "Removed"; the others see it leave; then 404', async () => {
    const a = await memberV2(s.url, 'kick-1', clients);
    const b = await memberV2(s.url, 'kick-1', clients);
    await a.next(); // b's peer-joined
    const res = await api(s.port, 'DELETE', `/api/v1/rooms/kick-1/peers/${b.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.deepEqual(await b.closed, { code: 4001, reason: 'Removed' });
    assert.deepEqual(await a.next(), { type: 'peer-disconnected', peerId: b.id });
    await until(async () => {
      const r = await api(s.port, 'GET', '/api/v1/rooms/kick-1');
      return (r.body as { members: unknown[] }).members.length === 1;
    });
    const again = await api(s.port, 'DELETE', `/api/v1/rooms/kick-1/peers/${b.id}`);
    assert.equal(again.status, 404);
    assert.equal(errorCode(again), 'peer_not_found');
  });

  test('DELETE a room closes every member 4001 "Removed"; then the room is 404', async () => {
    const members = [await join(s, 'close-1'), await join(s, 'close-1'), await join(s, 'close-1')];
    clients.push(...members);
    const res = await api(s.port, 'DELETE', '/api/v1/rooms/close-1');
    assert.equal(res.status, 204);
    for (const m of members) assert.deepEqual(await m.closed, { code: 4001, reason: 'Removed' });
    await until(async () => (await api(s.port, 'GET', '/api/v1/rooms/close-1')).status === 404);
    assert.equal((await api(s.port, 'DELETE', '/api/v1/rooms/close-1')).status, 404);
  });

  test('GET /api/v1/rooms pages through rooms by prefix and cursor', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `page-${i}`);
    for (const id of ids) clients.push(await join(s, id));
    clients.push(await join(s, 'page-3'));
    clients.push(await join(s, 'other-room'));
    const seen = new Map<string, number>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `prefix=page-&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await api(s.port, 'GET', `/api/v1/rooms?${qs}`);
      assert.equal(res.status, 200);
      const body = res.body as { rooms: { roomId: string; members: number }[]; cursor: string };
      assert.ok(body.rooms.length <= 3);
      for (const r of body.rooms) seen.set(r.roomId, r.members);
      cursor = body.cursor;
      pages++;
    } while (cursor !== null && pages < 20);
    assert.equal(cursor, null);
    assert.deepEqual([...seen.keys()].sort(), ids);
    assert.equal(seen.get('page-3'), 2);
    assert.equal(seen.get('page-0'), 1);
  });

  test('a listing keeps every room that exists throughout while other rooms come and go', async () => {
    const stay = Array.from({ length: 40 }, (_, i) => `churn-stay-${i}`);
    const go = Array.from({ length: 40 }, (_, i) => `churn-go-${i}`);
    const goClients = new Map<string, TestClient>();
    for (let i = 0; i < stay.length; i++) {
      clients.push(await join(s, stay[i]!));
      const g = await join(s, go[i]!);
      clients.push(g);
      goClients.set(go[i]!, g);
    }
    const seen = new Set<string>();
    let cursor: string | null = null;
    let page = 0;
    do {
      const qs: string = `prefix=churn-&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await api(s.port, 'GET', `/api/v1/rooms?${qs}`);
      assert.equal(res.status, 200);
      const body = res.body as { rooms: { roomId: string }[]; cursor: string | null };
      for (const r of body.rooms) seen.add(r.roomId);
      cursor = body.cursor;
      // Between pages: four rooms go, four new ones come.
      for (const id of go.slice(page * 4, page * 4 + 4)) await goClients.get(id)!.close();
      for (let k = 0; k < 4; k++) clients.push(await join(s, `churn-new-${page}-${k}`));
      page++;
    } while (cursor !== null && page < 100);
    assert.equal(cursor, null);
    for (const id of stay) assert.ok(seen.has(id), `${id} listed`);
  });

  test('the token subject is shown when auth is on', async () => {
    const a = await startServer({ apiKeys: [API_KEY], enableAuth: true, jwtSecret: SECRET });
    try {
      const token = await sign({ sub: 'player-42', rooms: ['auth-room'] }, Buffer.from(SECRET));
      const c = await connect(a.url, { roomId: 'auth-room', query: `token=${token}` });
      clients.push(c);
      await until(() => a.server.hub.get('auth-room') !== undefined);
      const res = await api(a.port, 'GET', '/api/v1/rooms/auth-room');
      const m = (res.body as { members: { subject?: string }[] }).members;
      assert.equal(m[0]!.subject, 'player-42');
    } finally {
      await a.close();
    }
  });

  test('each call is logged once with method, path, status and key id, never the key', async () => {
    await api(s.port, 'GET', '/api/v1/rooms/log-probe-room');
    await api(s.port, 'GET', '/api/v1/rooms?prefix=x', { key: 'wrong-key-but-long-enough' });
    const lines = s.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'api request');
    const probe = lines.filter((l) => l.path === '/api/v1/rooms/log-probe-room');
    assert.equal(probe.length, 1);
    assert.equal(probe[0]!.method, 'GET');
    assert.equal(probe[0]!.status, 404);
    assert.match(String(probe[0]!.keyId), /^[0-9a-f]{8}$/);
    const wrong = lines.find((l) => l.path === '/api/v1/rooms' && l.status === 401);
    assert.ok(wrong);
    assert.equal(wrong.keyId, null);
    for (const secret of [API_KEY, OTHER_API_KEY, 'wrong-key-but-long-enough'])
      assert.ok(!s.logs.text.includes(secret), 'no key in the logs');
  });

  test('requests are counted by route template and status', async () => {
    await api(s.port, 'GET', '/api/v1/rooms/metric-room-a');
    await api(s.port, 'GET', '/api/v1/rooms/metric-room-b');
    const text = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) =>
        l.startsWith('signaling_api_requests_total{route="/api/v1/rooms/:roomId",status="404"}'),
      );
    assert.ok(line, 'counted by template');
    assert.ok(Number(line.split(' ').pop()) >= 2);
    assert.ok(!text.includes('metric-room-a'), 'never a raw path as a label');
  });

  test('an accepted API message counts once in signaling_messages_forwarded_total', async () => {
    const a = await join(s, 'count-1');
    const b = await join(s, 'count-1');
    clients.push(a, b);
    const forwarded = async () =>
      (await s.server.metrics.messagesForwarded.get()).values[0]?.value ?? 0;
    const before = await forwarded();
    const res = await api(s.port, 'POST', '/api/v1/rooms/count-1/messages', {
      body: { message: { type: 'control', action: 'tick' } },
    });
    assert.equal(res.status, 202);
    await a.next();
    await b.next();
    assert.equal((await forwarded()) - before, 1, 'one message, two receivers: counted once');
  });
});
