/**
 * SPEC.md §11: env vars, CLI flags, validation with one line naming the setting, README table.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULTS, SETTINGS, configTableMarkdown, flagName, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { ROOT, runCli } from './helpers/process.js';

describe('loadConfig', () => {
  test('defaults match SPEC.md §11', () => {
    const { config } = loadConfig({}, []);
    assert.equal(config.wsPort, 3002);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.roomIdMaxLength, 128);
    assert.equal(config.roomCapacity, 100);
    assert.equal(config.roomTtlSeconds, 3600);
    assert.equal(config.heartbeatIntervalMs, 30000);
    assert.equal(config.messageMaxBytes, 65536);
    assert.equal(config.maxFrameBytes, 1048576);
    assert.equal(config.backpressureCloseThresholdBytes, 1048576);
    assert.equal(config.rateLimitConnPer10s, 5);
    assert.equal(config.rateLimitMessagesPer10s, 100);
    assert.equal(config.rateLimitIpMsgsPer10s, 500);
    assert.equal(config.rateLimitRoomMsgsPer10s, 1000);
    assert.equal(config.cbErrorThreshold, 3);
    assert.equal(config.cbOpenMs, 30000);
    assert.equal(config.drainTimeoutMs, 5000);
    assert.equal(config.shutdownCloseCode, 1001);
    assert.equal(config.requireWss, false);
    assert.equal(config.enableAuth, false);
    assert.equal(config.roomsClaim, 'rooms');
    assert.deepEqual(config.allowedOrigins, []);
    assert.equal(config.trustProxy, false);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.webhookUrls, []);
    assert.equal(config.webhookSecret, undefined);
    assert.equal(config.webhookMaxAttempts, 8);
    assert.equal(config.webhookTimeoutMs, 5000);
  });

  test('every setting reads its env var, and its CLI flag wins over it', () => {
    const { config } = loadConfig(
      {
        WS_PORT: '4000',
        ROOM_CAPACITY: '7',
        REQUIRE_WSS: 'true',
        ALLOWED_ORIGINS: 'a.com, https://b.com',
      },
      ['--room-capacity', '9', '--heartbeat-interval-ms=1000', '--trust-proxy'],
    );
    assert.equal(config.wsPort, 4000);
    assert.equal(config.roomCapacity, 9);
    assert.equal(config.heartbeatIntervalMs, 1000);
    assert.equal(config.requireWss, true);
    assert.equal(config.trustProxy, true);
    assert.deepEqual(config.allowedOrigins, ['a.com', 'https://b.com']);
    assert.equal(loadConfig({ PORT: '4100' }).config.wsPort, 4100);
    assert.equal(loadConfig({ PORT: '4100', WS_PORT: '4200' }).config.wsPort, 4200);
    for (const s of SETTINGS) assert.match(flagName(s.env), /^--[a-z0-9-]+$/);
  });

  test('bad values throw a ConfigError naming the setting, the value and what is expected', () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{ WS_PORT: 'abc' }, [], /WS_PORT="abc": expected an integer from 0 to 65535/],
      [{ WS_PORT: '70000' }, [], /WS_PORT="70000"/],
      [{ ROOM_CAPACITY: '0' }, [], /ROOM_CAPACITY="0": expected an integer from 1 to/],
      [{ ROOM_CAPACITY: '1.5' }, [], /ROOM_CAPACITY/],
      [{ REQUIRE_WSS: 'maybe' }, [], /REQUIRE_WSS="maybe": expected true or false/],
      [{ LOG_LEVEL: 'loud' }, [], /LOG_LEVEL="loud": expected one of/],
      [
        { REDIS_URL: 'http://x' },
        [],
        /REDIS_URL="http:\/\/x": expected a URL with scheme redis:\/\/ or rediss:\/\//,
      ],
      [
        { MESSAGE_MAX_BYTES: '2048', MAX_FRAME_BYTES: '1024' },
        [],
        /MAX_FRAME_BYTES="1024": expected at least MESSAGE_MAX_BYTES/,
      ],
      [{ ALLOWED_ORIGINS: 'https://a.com/path' }, [], /ALLOWED_ORIGINS/],
      [{ TLS_CERT_FILE: '/x.pem' }, [], /TLS_KEY_FILE/],
      [{ ENABLE_AUTH: 'true' }, [], /JWT_SECRET/],
      [{ WEBHOOK_URLS: 'http://127.0.0.1:1/h' }, [], /WEBHOOK_SECRET="": expected a whsec_/],
      [
        { WEBHOOK_URLS: 'ftp://127.0.0.1/h', WEBHOOK_SECRET: 'whsec_' + 'A'.repeat(24) },
        [],
        /WEBHOOK_URLS="<redacted>": expected http:\/\/ or https:\/\/ URLs/,
      ],
      [{ WEBHOOK_SECRET: 'not-a-secret' }, [], /WEBHOOK_SECRET="<redacted>": expected whsec_/],
      [{ WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }, [], /WEBHOOK_SECRET="<redacted>"/], // 5 bytes
      [{ WEBHOOK_SECRET: 'whsec_!!!!' }, [], /WEBHOOK_SECRET/],
      [{ WEBHOOK_MAX_ATTEMPTS: '0' }, [], /WEBHOOK_MAX_ATTEMPTS="0"/],
      [{}, ['--no-such-flag'], /command line="--no-such-flag"/],
      [{}, ['--ws-port'], /WS_PORT/],
    ];
    for (const [env, argv, re] of cases)
      assert.throws(
        () => loadConfig(env, argv),
        (err: unknown) => err instanceof ConfigError && re.test(err.message),
        JSON.stringify([env, argv]),
      );
  });

  test('a short JWT_SECRET is accepted with a warning', () => {
    const { warnings } = loadConfig({ JWT_SECRET: 'short', ENABLE_AUTH: 'true' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /JWT_SECRET is shorter than 32 bytes/);
  });
});

describe('the switchboard command', () => {
  async function run(args: string[], env: Record<string, string> = {}) {
    const child = runCli(args, env);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    return { code, out, err };
  }

  test('a bad value stops the process at start with one line naming the setting', async () => {
    for (const [args, env, name] of [
      [[], { WS_PORT: 'abc' }, 'WS_PORT'],
      [[], { ROOM_CAPACITY: '0' }, 'ROOM_CAPACITY'],
      [['--bogus'], {}, '--bogus'],
    ] as const) {
      const r = await run([...args], { ...env });
      assert.equal(r.code, 2);
      assert.equal(r.out, '');
      const lines = r.err.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.err);
      assert.ok(lines[0]!.includes(name), lines[0]);
    }
  });

  test('--help lists every flag with its default', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const s of SETTINGS) assert.ok(r.out.includes(flagName(s.env)), s.env);
    assert.match(r.out, /--ws-port\s+WS_PORT \(default 3002\)/);
    assert.equal(DEFAULTS.wsPort, 3002);
  });
});

test('README configuration table is the one generated from src/config.ts', () => {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  assert.ok(
    readme.includes(configTableMarkdown()),
    'README.md config table is stale: regenerate it with `npx tsx scripts/config-table.ts`',
  );
});
