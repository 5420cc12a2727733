/**
 * Per-turn writes on a Redis Cluster: what `coalescePerTurn` (redis-connection.ts) does for the
 * one command socket of a single Redis, done for each master's socket. ioredis' Cluster keeps one
 * Redis client per node and routes each command by slot, writing it at once to that node's
 * socket; without this every SPUBLISH and script call of a turn was its own write (and its own
 * read in redis-server).
 *
 * The set of sockets is taken afresh on each cork from the masters ready at that moment, so a
 * node that appears (topology refresh, MOVED to a new node) is corked from its next turn on, a
 * connection that is not ready (connecting, reconnecting) is never corked, and a socket that
 * closes while corked is simply uncorked (a no-op) when the turn ends. A command that ioredis
 * redirects (MOVED, ASK) or retries is resent from the reply's I/O callback, to whatever socket
 * then owns its slot: in that turn's write if the socket is corked, else at once.
 */
import type { Cluster, Redis } from 'ioredis';

type Stream = Redis['stream'];

export interface ClusterTurn {
  /** Cork every ready master's socket until this event-loop turn's I/O is done (setImmediate). */
  join(): void;
  /** Run `fn` with every ready master's socket corked, and uncork them right after (nested). */
  corked<T>(fn: () => T): T;
}

export function clusterTurn(cluster: Cluster): ClusterTurn {
  let turn: Stream[] | undefined;
  const cork = (): Stream[] => {
    const streams: Stream[] = [];
    if (cluster.status !== 'ready') return streams;
    for (const node of cluster.nodes('master'))
      if (node.status === 'ready') {
        node.stream.cork();
        streams.push(node.stream);
      }
    return streams;
  };
  const uncork = (streams: Stream[]) => {
    for (const s of streams) s.uncork();
  };
  const endTurn = () => {
    const streams = turn;
    turn = undefined;
    if (streams) uncork(streams);
  };
  return {
    join() {
      if (turn !== undefined || cluster.status !== 'ready') return;
      turn = cork();
      setImmediate(endTurn);
    },
    corked(fn) {
      const streams = cork();
      try {
        return fn();
      } finally {
        uncork(streams);
      }
    },
  };
}
