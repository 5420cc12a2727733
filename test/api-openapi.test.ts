/**
 * The OpenAPI document (served at /api/v1/openapi.json) against the running API: every status
 * of every operation the document lists is produced by a real request, and the answer is
 * validated against the schema the document gives for it (ajv, JSON Schema 2020-12 as
 * OpenAPI 3.1 uses). A documented status no scenario produces, or a scenario for a status the
 * document does not list, fails the test. Redis backend, so the 503s are real: Redis is stopped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { API_KEY, api, type ApiResponse } from './helpers/api.js';
import { RedisServer } from './helpers/redis.js';
import { memberV2, startServer, type TestClient, type TestServer } from './helpers/server.js';

let redis: RedisServer;
let s: TestServer;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    s = await startServer({ apiKeys: [API_KEY], redisUrl: redis.url, cbErrorThreshold: 1000 });
  },
  { timeout: 60_000 },
);
after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await s.close();
    await redis.stop();
  },
  { timeout: 60_000 },
);

type Doc = {
  paths: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>
  >;
};
type Scenario = () => Promise<ApiResponse>;

const ROOM = 'oa-room';
const MESSAGE = { type: 'control', action: 'hi' };

test(
  'every documented status of every operation is what the API answers, in the documented shape',
  { timeout: 60_000 },
  async () => {
    const served = await api(s.port, 'GET', '/api/v1/openapi.json');
    assert.equal(served.status, 200);
    const doc = served.body as Doc & { openapi: string };
    assert.match(doc.openapi, /^3\.1\./);

    const x = await memberV2(s.url, ROOM, clients);
    const y = await memberV2(s.url, ROOM, clients);
    const get = (path: string, key?: string | null) => api(s.port, 'GET', path, { key });
    const del = (path: string, key?: string | null) => api(s.port, 'DELETE', path, { key });
    const post = (
      path: string,
      body: unknown,
      headers?: Record<string, string>,
      key?: string | null,
    ) => api(s.port, 'POST', path, { body, headers, key });
    const msgs = `/api/v1/rooms/${ROOM}/messages`;

    // Scenarios that need Redis up, in order (the deletions come last).
    const live: Record<string, Scenario> = {
      'get /api/v1/openapi.json 200': () => get('/api/v1/openapi.json'),
      'get /api/v1/openapi.json 401': () => get('/api/v1/openapi.json', null),
      'get /api/v1/rooms 200': () => get('/api/v1/rooms?limit=5'),
      'get /api/v1/rooms 400': () => get('/api/v1/rooms?limit=0'),
      'get /api/v1/rooms 401': () => get('/api/v1/rooms', 'wrong-key-000000000'),
      'get /api/v1/rooms/{roomId} 200': () => get(`/api/v1/rooms/${ROOM}`),
      'get /api/v1/rooms/{roomId} 400': () => get('/api/v1/rooms/bad%20id'),
      'get /api/v1/rooms/{roomId} 401': () => get(`/api/v1/rooms/${ROOM}`, null),
      'get /api/v1/rooms/{roomId} 404': () => get('/api/v1/rooms/oa-empty'),
      'post /api/v1/rooms/{roomId}/messages 202': () => post(msgs, { message: MESSAGE }),
      'post /api/v1/rooms/{roomId}/messages 400': () => post(msgs, { message: { type: 'x' } }),
      'post /api/v1/rooms/{roomId}/messages 401': () => post(msgs, { message: MESSAGE }, {}, null),
      'post /api/v1/rooms/{roomId}/messages 404': () =>
        post(msgs, { message: MESSAGE, to: 'client:nobody' }),
      'post /api/v1/rooms/{roomId}/messages 413': () =>
        post(msgs, { message: { type: 'offer', sdp: 's'.repeat(70_000) } }),
      'post /api/v1/rooms/{roomId}/messages 415': () =>
        post(msgs, '{}', { 'content-type': 'text/plain' }),
      'delete /api/v1/rooms/{roomId}/peers/{peerId} 400': () =>
        del(`/api/v1/rooms/%2F/peers/${x.id}`),
      'delete /api/v1/rooms/{roomId}/peers/{peerId} 401': () =>
        del(`/api/v1/rooms/${ROOM}/peers/${x.id}`, null),
      'delete /api/v1/rooms/{roomId}/peers/{peerId} 404': () =>
        del(`/api/v1/rooms/${ROOM}/peers/client:nobody`),
      'delete /api/v1/rooms/{roomId}/peers/{peerId} 204': () =>
        del(`/api/v1/rooms/${ROOM}/peers/${x.id}`),
      'delete /api/v1/rooms/{roomId} 400': () => del('/api/v1/rooms/a%00'),
      'delete /api/v1/rooms/{roomId} 401': () => del(`/api/v1/rooms/${ROOM}`, null),
      'delete /api/v1/rooms/{roomId} 404': () => del('/api/v1/rooms/oa-empty'),
      'delete /api/v1/rooms/{roomId} 204': () => del(`/api/v1/rooms/${ROOM}`),
    };
    // With Redis stopped: every answer that needs room state is 503.
    const down: Record<string, Scenario> = {
      'get /api/v1/rooms 503': () => get('/api/v1/rooms'),
      'get /api/v1/rooms/{roomId} 503': () => get(`/api/v1/rooms/${ROOM}`),
      'post /api/v1/rooms/{roomId}/messages 503': () => post(msgs, { message: MESSAGE }),
      'delete /api/v1/rooms/{roomId}/peers/{peerId} 503': () =>
        del(`/api/v1/rooms/${ROOM}/peers/${y.id}`),
      'delete /api/v1/rooms/{roomId} 503': () => del(`/api/v1/rooms/${ROOM}`),
    };

    const documented: string[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        for (const status of Object.keys(op.responses ?? {}))
          documented.push(`${method} ${path} ${status}`);
    assert.deepEqual(
      [...Object.keys(live), ...Object.keys(down)].sort(),
      documented.sort(),
      'a scenario for every documented status, and no other',
    );

    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addFormat(
      'date-time',
      (v: string) => /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v)),
    );
    ajv.addSchema(doc as object, 'doc');
    const pointer = (...parts: string[]) =>
      'doc#/' + parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

    async function check(key: string, scenario: Scenario): Promise<void> {
      const [method, path, status] = key.split(' ') as [string, string, string];
      const res = await scenario();
      assert.equal(res.status, Number(status), `${key}: ${res.text.slice(0, 200)}`);
      const content = doc.paths[path]![method]!.responses![status]!.content;
      if (content === undefined) {
        assert.equal(res.text, '', `${key}: no body`);
        return;
      }
      assert.match(String(res.headers['content-type']), /^application\/json/, key);
      const validate = ajv.getSchema(
        pointer(
          'paths',
          path,
          method,
          'responses',
          status,
          'content',
          'application/json',
          'schema',
        ),
      );
      assert.ok(validate, `${key}: schema compiles`);
      assert.ok(
        validate(res.body),
        `${key}: ${ajv.errorsText(validate.errors)} in ${res.text.slice(0, 200)}`,
      );
    }

    for (const [key, scenario] of Object.entries(live)) await check(key, scenario);
    assert.deepEqual(await x.closed, { code: 4001, reason: 'Removed' });
    assert.deepEqual(await y.closed, { code: 4001, reason: 'Removed' });
    const z = await memberV2(s.url, ROOM, clients); // for the 503s, a room that exists
    assert.ok(z.id);
    await redis.kill();
    for (const [key, scenario] of Object.entries(down)) await check(key, scenario);
  },
);
