/**
 * 200 clients in 100 rooms exchanging messages: no loss, no duplicate, no cross-room leak.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, startServer, until, type TestClient, type TestServer } from './helpers/server.js';

let t: TestServer;
before(
  async () => {
    t = await startServer();
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

test('200 clients in 100 rooms: every message reaches exactly its room partner, in order', async () => {
  const rooms = 100;
  const perClient = 20;
  const clients: { c: TestClient; room: string; idx: number }[] = [];
  await Promise.all(
    Array.from({ length: rooms * 2 }, async (_, i) => {
      const room = `scale-${i % rooms}`;
      clients.push({ c: await connect(t.url, { roomId: room }), room, idx: i });
    }),
  );
  await until(
    () =>
      t.server.hub.rooms.size === rooms &&
      [...t.server.hub.rooms.values()].every((r) => r.peers.size === 2),
    10_000,
    'all admitted',
  );

  const got: unknown[][] = clients.map(() => []);
  const done = clients.map(
    ({ c }, i) =>
      new Promise<void>((resolve) => {
        c.ws.on('message', (d) => {
          got[i]!.push(JSON.parse(d.toString()));
          if (got[i]!.length === perClient) resolve();
        });
      }),
  );
  for (let n = 0; n < perClient; n++)
    for (const { c, room, idx } of clients)
      c.send({ type: 'control', action: 'msg', payload: { room, from: idx, n } });
  await Promise.all(done);
  const received = got.map((g) => g.slice(0, perClient));

  for (let i = 0; i < clients.length; i++) {
    const { room, idx } = clients[i]!;
    const partner = clients.find((o) => o.room === room && o.idx !== idx)!;
    const expected = Array.from({ length: perClient }, (_, n) => ({
      type: 'control',
      action: 'msg',
      payload: { room, from: partner.idx, n },
    }));
    assert.deepEqual(received[i], expected, `client ${idx} in ${room}`);
  }
  // A last round trip per room proves nothing extra was queued behind the expected messages:
  // each client's next message is its partner's end marker.
  for (const { c, idx } of clients) c.send({ type: 'control', action: 'end', payload: idx });
  await until(() => got.every((g) => g.length > perClient), 10_000, 'end markers');
  for (let i = 0; i < clients.length; i++) {
    const { room, idx } = clients[i]!;
    const partner = clients.find((o) => o.room === room && o.idx !== idx)!;
    assert.deepEqual(got[i]!.slice(perClient), [
      { type: 'control', action: 'end', payload: partner.idx },
    ]);
  }
  const forwarded = (await t.server.metrics.messagesForwarded.get()).values[0]?.value;
  assert.equal(forwarded, rooms * 2 * (perClient + 1));
  await Promise.all(clients.map(({ c }) => c.close()));
  await until(() => t.server.hub.rooms.size === 0, 5000, 'rooms emptied');
});
