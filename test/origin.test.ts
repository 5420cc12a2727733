/**
 * ALLOWED_ORIGINS (SPEC.md §1 step 4, §10): exact scheme/host/port for entries with a scheme,
 * any scheme/port for bare hostnames, never a substring or suffix; a missing Origin is refused
 * unless ALLOW_MISSING_ORIGIN. Pure matching tested directly, then on a real server.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { originAllowed } from '../src/server/origin.js';
import { admission } from './helpers/admission.js';
import { connect, startServer } from './helpers/server.js';

const ALLOWED = ['https://app.example.com', 'http://localhost:8080', 'partner.example.org'];

describe('originAllowed', () => {
  const yes = [
    'https://app.example.com',
    'https://app.example.com:443', // default port normalized
    'https://APP.Example.com', // hosts are case-insensitive
    'http://localhost:8080',
    'https://partner.example.org',
    'http://partner.example.org:3000',
    'https://PARTNER.example.org:8443',
  ];
  const no = [
    'http://app.example.com', // wrong scheme
    'https://app.example.com:8443', // wrong port
    'http://localhost', // wrong port (80)
    'http://localhost:8081',
    'https://localhost:8080', // wrong scheme
    'https://app.example.com.evil.com', // suffix attack
    'https://evilapp.example.com', // prefix attack
    'https://sub.app.example.com', // subdomain
    'https://app.example.co',
    'https://app.example.com.', // trailing dot is another host name
    'https://app.example.com@evil.com', // userinfo trick: host is evil.com
    'https://evil.com/?https://app.example.com',
    'https://evil.com#app.example.com',
    'https://evil.com/app.example.com',
    'https://partner.example.org.evil.com',
    'https://evilpartner.example.org',
    'https://partner.example.org@evil.com',
    'https://xpartner.example.org',
    'https://example.org',
    'file://partner.example.org', // opaque origin
    'null',
    'not a url',
    'app.example.com', // not an origin at all
    'https://app.example.com\u0000.evil.com',
  ];
  for (const origin of yes)
    test(`allows ${JSON.stringify(origin)}`, () =>
      assert.equal(originAllowed(origin, ALLOWED, false), true));
  for (const origin of no)
    test(`refuses ${JSON.stringify(origin)}`, () =>
      assert.equal(originAllowed(origin, ALLOWED, false), false));

  test('missing Origin: refused unless allowed; empty list allows everything', () => {
    assert.equal(originAllowed(undefined, ALLOWED, false), false);
    assert.equal(originAllowed('', ALLOWED, false), false);
    assert.equal(originAllowed(undefined, ALLOWED, true), true);
    assert.equal(originAllowed(undefined, [], false), true);
    assert.equal(originAllowed('https://anything.test', [], false), true);
  });
});

test('on a real server: exact origins admitted, lookalikes and missing Origin refused', async () => {
  const t = await startServer({ allowedOrigins: ALLOWED });
  try {
    const outcome = async (origin: string | undefined) => {
      const c = await connect(t.url, { roomId: 'o', ...(origin ? { origin } : {}) });
      const r = await admission(t, c);
      if (r === 'admitted') await c.close();
      return r;
    };
    assert.equal(await outcome('https://app.example.com'), 'admitted');
    assert.equal(await outcome('http://partner.example.org:9999'), 'admitted');
    for (const origin of [
      'https://app.example.com.evil.com',
      'http://app.example.com',
      'https://evilpartner.example.org',
      'null',
    ])
      assert.deepEqual(await outcome(origin), { ...Close.originNotAllowed }, origin);
    assert.deepEqual(await outcome(undefined), { ...Close.originNotAllowed });
    const body = await t.server.metrics.registry.metrics();
    assert.match(body, /signaling_admission_refusals_total\{reason="origin"\} 5/);
  } finally {
    await t.close();
  }
  const m = await startServer({ allowedOrigins: ALLOWED, allowMissingOrigin: true });
  try {
    const c = await connect(m.url, { roomId: 'o' });
    assert.equal(await admission(m, c), 'admitted');
    await c.close();
    const d = await connect(m.url, { roomId: 'o', origin: 'https://evil.test' });
    assert.deepEqual(await admission(m, d), { ...Close.originNotAllowed });
  } finally {
    await m.close();
  }
});
