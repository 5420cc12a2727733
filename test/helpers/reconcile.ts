/**
 * What the resubscription tests (single Redis and Cluster) expect to see: the v2 join and leave
 * messages a peer hears, and the lines a node logs when an outage's reconciliation is done.
 */
import assert from 'node:assert/strict';
import { awaitLinked, type LogLine, type NodeProcess } from './node-process.js';
import { memberV2, type TestClient } from './server.js';

export const joined = (id: string) => ({
  type: 'control',
  action: 'peer-joined',
  payload: { peerId: id },
});

export const left = (id: string) => ({ type: 'peer-disconnected', peerId: id });

/** The node's "rooms reconciled after the outage" lines after its first `since` lines. */
export const reconciledLines = (node: NodeProcess, since: number): LogLine[] =>
  node.logs.slice(since).filter((l) => l.msg === 'rooms reconciled after the outage');

/** The sum of a numeric field (joined, left) over log lines. */
export const total = (lines: LogLine[], key: string): number =>
  lines.reduce((n, l) => n + Number(l[key]), 0);

/**
 * Room `roomId` with two members on node `a` (`stays`, `goes`) and one on node `b` (`q`), each
 * having heard the others' probes, and `q` told of both joins (tracked in `clients`).
 */
export async function roomAcross(
  a: NodeProcess,
  b: NodeProcess,
  roomId: string,
  clients: TestClient[],
) {
  const stays = await memberV2(a.url, roomId, clients);
  const goes = await memberV2(a.url, roomId, clients);
  const q = await memberV2(b.url, roomId, clients);
  assert.deepEqual(await awaitLinked(q, stays, goes), [
    joined(goes.id),
    joined(q.id),
    joined(q.id),
  ]);
  assert.deepEqual(await awaitLinked(stays, q, goes), []);
  return { stays, goes, q };
}
