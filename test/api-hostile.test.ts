/**
 * Hostile input to the server API (SPEC.md §14): bad JSON, huge bodies (declared and streamed),
 * wrong keys, path traversal and percent-encoding in ids, unknown routes and methods, bad
 * queries, bad message shapes. Each gets its defined 4xx answer; the server keeps serving and
 * a pair of clients in a room keeps exchanging messages throughout.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { API_KEY, api, errorCode } from './helpers/api.js';
import {
  memberV2,
  once,
  startServer,
  until,
  type TestClient,
  type TestServer,
} from './helpers/server.js';

let s: TestServer;
const clients: TestClient[] = [];
before(
  async () => {
    s = await startServer({ apiKeys: [API_KEY] });
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

/** Write a raw request and read until the server answers and closes (or `ms` passes). */
function raw(
  head: string,
  feed?: (socket: net.Socket) => void,
  ms = 5000,
): Promise<{ response: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(s.port, '127.0.0.1');
    let response = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closedByServer });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('data', (d) => (response += d.toString('latin1')));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(head);
    feed?.(socket);
  });
}

const post = (path: string, body: unknown, headers?: Record<string, string>) =>
  api(s.port, 'POST', path, { body, headers });

describe('hostile input to the server API', { timeout: 60_000 }, () => {
  let x: TestClient & { id: string };
  let y: TestClient & { id: string };
  let sent = 0;

  before(
    async () => {
      x = await memberV2(s.url, 'victim', clients);
      y = await memberV2(s.url, 'victim', clients);
      await x.next(); // y's peer-joined
    },
    { timeout: 60_000 },
  );

  /** Between attacks: a message between the two clients still arrives, in order. */
  async function stillServing(): Promise<void> {
    const n = sent++;
    x.send({ type: 'control', action: 'ping', payload: n });
    assert.deepEqual(await y.next(5000), {
      type: 'control',
      action: 'ping',
      payload: n,
      from: x.id,
    });
  }

  test('bad JSON, bad body shapes and bad messages are 400 with their codes', async () => {
    const cases: [body: unknown, code: string][] = [
      ['{"message":', 'invalid_json'],
      ['', 'invalid_json'],
      [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'invalid_json'],
      ['[1,2]', 'invalid_body'],
      ['null', 'invalid_body'],
      ['42', 'invalid_body'],
      [{}, 'invalid_body'],
      [{ message: { type: 'offer', sdp: 'x' }, to: 7 }, 'invalid_body'],
      [{ message: { type: 'offer' } }, 'invalid_message'],
      [{ message: { type: 'offer', sdp: '' } }, 'invalid_message'],
      [{ message: { type: 'bogus' } }, 'invalid_message'],
      [{ message: 'offer' }, 'invalid_message'],
      [{ message: { type: 'candidate', candidate: 'c', sdpMLineIndex: -1 } }, 'invalid_message'],
      [
        '{"message":{"type":"control","action":"a","payload":' +
          '['.repeat(5000) +
          ']'.repeat(5000) +
          '}}',
        'invalid_message',
      ],
      [
        { message: { type: 'control', action: 'x', payload: { __proto__: { a: 1 } } }, to: '' },
        'peer_not_found',
      ],
    ];
    for (const [body, code] of cases) {
      const res = await post('/api/v1/rooms/victim/messages', body);
      assert.equal(errorCode(res), code, JSON.stringify(body).slice(0, 80));
      assert.equal(res.status, code === 'peer_not_found' ? 404 : 400);
    }
    await stillServing();
  });

  test('a body that is not application/json is 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const res = await post('/api/v1/rooms/victim/messages', '{}', { 'content-type': type });
      assert.equal(res.status, 415);
      assert.equal(errorCode(res), 'unsupported_media_type');
    }
    await stillServing();
  });

  test('a huge declared body is refused 413 before it is read, and the connection closed', async () => {
    const { response, closedByServer } = await raw(
      'POST /api/v1/rooms/victim/messages HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\n` +
        'Content-Length: 1000000000\r\n\r\n{"message":',
    );
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /"code":"body_too_large"/);
    assert.ok(closedByServer);
    await stillServing();
  });

  test('a huge streamed body is cut off at the cap with 413, not read to the end', async () => {
    let written = 0;
    const { response, closedByServer } = await raw(
      'POST /api/v1/rooms/victim/messages HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\n` +
        'Transfer-Encoding: chunked\r\n\r\n',
      (socket) => {
        const chunk = 'a'.repeat(16 * 1024);
        const pump = () => {
          // Up to 64 MiB: far past the cap; the server must answer long before.
          while (written < 64 * 1024 * 1024 && !socket.destroyed) {
            written += chunk.length;
            if (!socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`))
              return void socket.once('drain', pump);
          }
        };
        socket.on('error', () => undefined);
        pump();
      },
    );
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.ok(closedByServer);
    assert.ok(written < 64 * 1024 * 1024, `stopped reading (${written} bytes written)`);
    await stillServing();
  });

  test('a client gone mid-body leaves nothing waiting: the request is settled and logged', async () => {
    const path = '/api/v1/rooms/gone-mid-body/messages';
    const socket = net.connect(s.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    // Expect: 100-continue, so the server has begun the request before the body is cut.
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
    );
    const [first] = (await once(socket, 'data')) as [Buffer];
    assert.match(first.toString(), /^HTTP\/1\.1 100 Continue/);
    socket.write('{"message":{"type":"offer",');
    socket.destroy();
    await until(() => s.logs.text.includes(`"path":"${path}"`), 5000, 'the request settled');
    await stillServing();
  });

  test('a message over MESSAGE_MAX_BYTES within the body cap is 413 message_too_large', async () => {
    const res = await post('/api/v1/rooms/victim/messages', {
      message: { type: 'offer', sdp: 's'.repeat(65_600) },
    });
    assert.equal(res.status, 413);
    assert.equal(errorCode(res), 'message_too_large');
    await stillServing();
  });

  test('wrong keys are 401 and reveal nothing about routes', async () => {
    const keys = ['', 'x', API_KEY.slice(0, -1), API_KEY + 'x', API_KEY.toUpperCase(), 'a b'];
    for (const key of keys) {
      for (const path of ['/api/v1/rooms', '/api/v1/nowhere', '/api/v1/rooms/victim']) {
        const res = await api(s.port, 'GET', path, { key });
        assert.equal(res.status, 401, `${key} ${path}`);
        assert.equal(errorCode(res), 'unauthorized');
      }
    }
    const lower = await api(s.port, 'GET', '/api/v1/rooms', {
      key: null,
      headers: { authorization: `bearer ${API_KEY}` },
    });
    assert.equal(lower.status, 200, 'the scheme is case-insensitive');
    await stillServing();
  });

  test('path traversal and encoding tricks in ids are 400 or 404, never a crash', async () => {
    const cases: [path: string, status: number, code: string][] = [
      ['/api/v1/rooms/../../etc/passwd', 404, 'not_found'],
      ['/api/v1/rooms/..', 404, 'room_not_found'],
      ['/api/v1/rooms/%2e%2e%2fetc', 400, 'invalid_room_id'],
      ['/api/v1/rooms/a%00b', 400, 'invalid_room_id'],
      ['/api/v1/rooms/victim%20', 400, 'invalid_room_id'],
      ['/api/v1/rooms/%F0%9F%98%80', 400, 'invalid_room_id'],
      ['/api/v1/rooms/%', 400, 'invalid_room_id'],
      ['/api/v1/rooms/' + 'r'.repeat(5000), 400, 'invalid_room_id'],
      ['/api/v1/rooms/victim/peers/..%2f..%2fx', 404, 'peer_not_found'],
      ['/api/v1/rooms/victim/peers/' + 'p'.repeat(5000), 404, 'peer_not_found'],
      ['/api/v1/rooms//peers/x', 404, 'not_found'],
      ['/api/v1/rooms/', 404, 'not_found'],
      ['/api/v1/rooms/victim/', 404, 'not_found'],
      ['/api//v1/rooms', 404, 'not_found'],
    ];
    for (const [path, status, code] of cases) {
      // DELETE is the only method on a peer path (GET would be 405 there).
      for (const method of /\/peers\/./.test(path) ? ['DELETE'] : ['GET', 'DELETE']) {
        const res = await api(s.port, method, path);
        assert.equal(res.status, status, `${method} ${path.slice(0, 60)}`);
        assert.equal(errorCode(res), code, `${method} ${path.slice(0, 60)}`);
      }
    }
    assert.equal(s.server.hub.get('victim')?.peers.size, 2, 'nobody was removed');
    await stillServing();
  });

  test('unknown routes are 404 and wrong methods 405 with Allow', async () => {
    for (const path of ['/api/', '/api/v2/rooms', '/api/v1', '/api/v1/rooms/victim/nothing']) {
      const res = await api(s.port, 'GET', path);
      assert.equal(res.status, 404, path);
      assert.equal(errorCode(res), 'not_found');
    }
    const put = await api(s.port, 'PUT', '/api/v1/rooms', { body: {} });
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, 'GET');
    assert.equal(errorCode(put), 'method_not_allowed');
    const patch = await api(s.port, 'PATCH', '/api/v1/rooms/victim');
    assert.equal(patch.status, 405);
    assert.equal(patch.headers.allow, 'GET, DELETE');
    const get = await api(s.port, 'GET', '/api/v1/rooms/victim/messages');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    await stillServing();
  });

  test('bad queries and cursors are 400', async () => {
    const cases: [query: string, code: string][] = [
      ['limit=0', 'invalid_query'],
      ['limit=1001', 'invalid_query'],
      ['limit=abc', 'invalid_query'],
      ['limit=1e3', 'invalid_query'],
      ['limit=-5', 'invalid_query'],
      ['limit=', 'invalid_query'],
      ['prefix=a%2Fb', 'invalid_query'],
      ['prefix=' + 'p'.repeat(200), 'invalid_query'],
      ['cursor=!!', 'invalid_cursor'],
      ['cursor=' + Buffer.from('{"s":-1}').toString('base64url'), 'invalid_cursor'],
      ['cursor=' + Buffer.from('[]').toString('base64url'), 'invalid_cursor'],
      ['cursor=' + 'A'.repeat(15_000), 'invalid_cursor'],
    ];
    for (const [query, code] of cases) {
      const res = await api(s.port, 'GET', `/api/v1/rooms?${query}`);
      assert.equal(res.status, 400, query.slice(0, 60));
      assert.equal(errorCode(res), code, query.slice(0, 60));
    }
    // Past Node's header limit (16 KiB) the request never reaches the API.
    const huge = await api(s.port, 'GET', `/api/v1/rooms?cursor=${'A'.repeat(20_000)}`);
    assert.equal(huge.status, 431);
    await stillServing();
  });

  test('after all of it the server is healthy and its room intact', async () => {
    const health = await fetch(`http://127.0.0.1:${s.port}/healthz`);
    assert.equal(health.status, 200);
    const res = await api(s.port, 'GET', '/api/v1/rooms/victim');
    assert.equal((res.body as { members: unknown[] }).members.length, 2);
    await stillServing();
  });
});
