/**
 * SPEC.md §10: a token (and the whole query string) never reaches a log line, a metric label
 * or an error message. Runs admitted, refused and refreshed connections at LOG_LEVEL debug and
 * searches the captured logs and the metrics for any piece of any token used.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { SECRET, signHs } from './helpers/jwt.js';
import { connect, join, startServer } from './helpers/server.js';

test('tokens and query strings never reach logs or metrics (LOG_LEVEL debug)', async () => {
  const t = await startServer({ enableAuth: true, jwtSecret: SECRET, logLevel: 'debug' });
  const marker = 'QUERYMARKER1234';
  const used: string[] = [];
  const mk = async (claims: object, opts = {}) => {
    const token = await signHs(claims as Record<string, unknown>, opts);
    used.push(token);
    return token;
  };
  try {
    // Admitted through each of the three sources.
    const q = await join(t, 'h', { query: `token=${await mk({ rooms: ['h'] })}&x=${marker}` });
    const bearer = await join(t, 'h', {
      headers: { authorization: `Bearer ${await mk({ rooms: ['h'] })}` },
    });
    const sub = await join(t, 'h', {
      protocols: ['switchboard', `access_token.${await mk({ rooms: ['h'] })}`],
    });
    // Refused: bad signature, expired, forbidden, claimless, invalid roomId with a token.
    const good = await mk({ rooms: ['h'] });
    const bad = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    used.push(bad);
    const refusals: [string, string, object][] = [
      ['h', bad, Close.unauthorized],
      ['h', await mk({ rooms: ['h'] }, { expIn: -3600 }), Close.unauthorized],
      ['h', await mk({ rooms: ['other'] }), Close.forbidden],
      ['h', await mk({}), Close.forbidden],
      ['bad room!', await mk({ rooms: ['h'] }), Close.invalidRoomId],
    ];
    for (const [roomId, token, close] of refusals) {
      const c = await connect(t.url, { roomId, query: `token=${token}&x=${marker}` });
      assert.deepEqual(await admission(t, c), { ...close });
    }
    // In-band refreshes: one accepted, one refused.
    q.send({
      type: 'control',
      action: 'refresh-token',
      payload: { token: await mk({ rooms: ['h'] }) },
    });
    bearer.send({ type: 'control', action: 'refresh-token', payload: { token: bad } });
    assert.deepEqual(await bearer.closed, { ...Close.unauthorized });
    // HTTP requests carrying a token in the query.
    for (const path of ['/metrics', '/nope', '/healthz'])
      await new Promise<void>((resolve, reject) =>
        http
          .get(`http://127.0.0.1:${t.port}${path}?token=${good}&x=${marker}`, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', reject),
      );
    await q.close();
    await sub.close();

    const metrics = await t.server.metrics.registry.metrics();
    // The logs did record these events (the search below is not vacuous).
    assert.match(t.logs.text, /connection refused/);
    assert.match(t.logs.text, /peer joined/);
    assert.match(t.logs.text, /token rejected/);
    for (const token of used) {
      const [header, payload, signature] = token.split('.');
      for (const piece of [token, payload!, signature!]) {
        assert.ok(!t.logs.text.includes(piece), 'a token piece reached the logs');
        assert.ok(!metrics.includes(piece), 'a token piece reached the metrics');
      }
      assert.ok(header);
    }
    assert.ok(!t.logs.text.includes(marker), 'the query string reached the logs');
    assert.ok(!t.logs.text.includes('token='), 'a query string reached the logs');
    assert.ok(!metrics.includes(marker));
    assert.ok(!t.logs.text.includes(SECRET));
  } finally {
    await t.close();
  }
});
