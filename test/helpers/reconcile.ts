/**
 * What the resubscription tests (single Redis and Cluster) expect to see: the v2 join and leave
 * messages a peer hears, and the lines a node logs when an outage's reconciliation is done.
 */
import type { LogLine, NodeProcess } from './node-process.js';

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
