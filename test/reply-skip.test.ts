/**
 * Publishes without replies (src/backend/reply-skip.ts) against a real redis-server: delivered
 * like any PUBLISH, no reply comes back to misalign ioredis' queue, and where Redis refuses
 * CLIENT REPLY or PUBLISH, every publish reports its outcome as before.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { ReplySkippingPublisher, skipPublishCommand } from '../src/backend/reply-skip.js';
import { RedisServer } from './helpers/redis.js';

let redis: RedisServer;
before(
  async () => {
    redis = await RedisServer.start();
  },
  { timeout: 30_000 },
);
after(() => redis?.stop(), { timeout: 30_000 });

/** A command connection as the node makes it (no offline queue), ready. */
async function commands(url: string): Promise<Redis> {
  const c = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  await c.connect();
  return c;
}

async function subscriber(channel: string): Promise<{ got: string[]; sub: Redis }> {
  const sub = new Redis(redis.url);
  const got: string[] = [];
  sub.on('message', (_ch: string, m: string) => got.push(m));
  await sub.subscribe(channel);
  return { got, sub };
}

/** A Redis URL for a user allowed every command but `command`. */
async function urlOfUserWithout(user: string, command: string): Promise<string> {
  const admin = redis.client();
  try {
    await admin.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all', `-${command}`);
  } finally {
    admin.disconnect();
  }
  const url = new URL(redis.url);
  url.username = user;
  url.password = 'pw';
  return url.toString();
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('RESP of CLIENT REPLY SKIP + PUBLISH counts bytes, not characters', () => {
  assert.equal(
    skipPublishCommand('c', 'é'),
    '*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2\r\né\r\n',
  );
});

test('after the probe, publishes report back until one has succeeded, then but one a second go without a reply; all arrive, in order; the queue stays aligned', async () => {
  const { got, sub } = await subscriber('skip-1');
  const c = await commands(redis.url);
  let t = 0;
  const pub = new ReplySkippingPublisher(c, () => t);
  try {
    await until(() => pub.probed, 'the probe');
    assert.equal(pub.skipping, false, 'not before a publish has succeeded');
    const admin = redis.client();
    const first = pub.publish(
      [
        ['skip-1', 'm0 ünïcode'],
        ['skip-1', 'm1 ünïcode'],
      ],
      false,
    );
    assert.equal(first.length, 2, 'until a publish has succeeded, each reports back');
    assert.deepEqual(await Promise.all(first), [1, 1]);
    assert.equal(pub.skipping, true);
    const batch: [string, string][] = [];
    for (let i = 2; i < 50; i++) batch.push(['skip-1', `m${i} ünïcode`]);
    const replies = pub.publish(batch, false);
    assert.equal(replies.length, 1, 'then one a second reports back');
    assert.equal(await replies[0], 1);
    t += 500; // within the same second: none reports
    assert.equal(pub.publish([['skip-1', 'm50']], false).length, 0);
    t += 600; // a second after the reported one: this one reports
    assert.equal(pub.publish([['skip-1', 'm51']], false).length, 1);
    assert.equal(pub.publish([['skip-1', 'm52']], true).length, 1, 'checked: reports');
    // The queue is aligned: an ordinary command right after gets its own reply.
    assert.equal(await c.echo('after'), 'after');
    await until(() => got.length === 53, 'every message');
    assert.deepEqual(got.slice(0, 3), ['m0 ünïcode', 'm1 ünïcode', 'm2 ünïcode']);
    assert.deepEqual(got.slice(50), ['m50', 'm51', 'm52']);
    const stats = await admin.info('commandstats');
    const skips = Number(/cmdstat_client\|reply:calls=(\d+)/.exec(stats)?.[1]);
    assert.equal(skips, 1 + 47 + 1, 'the probe, then one SKIP per publish without a reply');
    admin.disconnect();
  } finally {
    c.disconnect();
    sub.disconnect();
  }
});

test('a user refused CLIENT: the probe fails, every publish reports back and is delivered', async () => {
  const { got, sub } = await subscriber('skip-2');
  const c = await commands(await urlOfUserWithout('noclient', 'client'));
  const pub = new ReplySkippingPublisher(c);
  try {
    // The probe's answer (NOPERM) comes before this echo's: it has been refused by then.
    assert.equal(await c.echo('probed'), 'probed');
    assert.equal(pub.skipping, false);
    const replies = pub.publish(
      [
        ['skip-2', 'a'],
        ['skip-2', 'b'],
      ],
      false,
    );
    assert.deepEqual(await Promise.all(replies), [1, 1]);
    await until(() => got.length === 2, 'both messages');
  } finally {
    c.disconnect();
    sub.disconnect();
  }
});

test('Redis refuses PUBLISH: every publish reports the refusal, and skipping never starts, also after a reconnect', async () => {
  const c = await commands(await urlOfUserWithout('nopub2', 'publish'));
  const pub = new ReplySkippingPublisher(c);
  try {
    await until(() => pub.probed, 'the probe');
    const replies = pub.publish(
      [
        ['skip-3', 'a'],
        ['skip-3', 'b'],
      ],
      false,
    );
    assert.equal(replies.length, 2, 'however fast the first refusal comes back');
    for (const r of replies) await assert.rejects(r, /NOPERM/);
    assert.equal(pub.skipping, false);
    assert.equal(pub.probed, false, 'a refusal stops skipping until a reconnect');
    const again = pub.publish([['skip-3', 'c']], false);
    assert.equal(again.length, 1, 'refusals are reported again, one per publish');
    await assert.rejects(again[0]!, /NOPERM/);
    // A reconnect probes again; the publishes report back until one succeeds (none will).
    c.disconnect(true);
    await once(c, 'ready');
    await until(() => pub.probed, 'the probe after the reconnect');
    const after = pub.publish([['skip-3', 'd']], false);
    assert.equal(after.length, 1);
    await assert.rejects(after[0]!, /NOPERM/);
  } finally {
    c.disconnect();
  }
});
