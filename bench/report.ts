/** The printed table and the target checks of issue 6, from one run's results. */
import type { IdleResult } from './idle.js';
import type { IdleConnsRun } from './idle100k.js';
import type { ChurnResult, RelayResult, StormResult } from './generator.js';
import type { ApiLoadResult } from './api-load.js';
import type { WebhookLatency } from './webhooks.js';
import type { CrossVariant } from './cross-variants.js';

export type Server = 'bare' | 'switchboard';

export interface RunResults {
  relay: { name: string; server: string; result: RelayResult; reps?: RelayResult[] }[];
  /** The median of the searches (bench/saturation.ts), each search's deliveries/s beside it. */
  saturation: Partial<
    Record<
      Server,
      { deliveredPerSec: number; rate: number; steps: RelayResult[]; searches?: number[] }
    >
  >;
  storm: Partial<Record<Server, StormResult>>;
  /** Idle connections on one node from sources spread over 127.0.0.0/8 (bench/idle100k.ts). */
  idleConns?: IdleConnsRun;
  churn: { name: string; server: string; result: ChurnResult }[];
  /** Server API rate on two nodes while a K=2 cross-node relay runs (bench/api-load.ts). */
  api?: {
    concurrency: number;
    /** GET of a one-member room, no other traffic. */
    alone: ApiLoadResult;
    /** GET of a relay room while the relay runs; `relay` is that relay's result. */
    during: ApiLoadResult;
    relay: RelayResult;
  };
  /** Cross-node saturation (50 rooms × 10, bursts): deliveries/s per server, median search. */
  crossSaturation?: Record<string, number>;
  /** Every search's deliveries/s, in the order run (alternated between the servers). */
  crossSaturationSearches?: Record<string, number[]>;
  /** Idle members, one per room, on two nodes: Redis commands/s and node CPU (issue 11). */
  idle?: IdleResult[];
  /**
   * The same on two more nodes with SPEC §3's pings out of the window (HEARTBEAT_INTERVAL_MS
   * 600000): what grows with the rooms apart from the ping every connection is owed.
   */
  idleNoPings?: IdleResult[];
  /** The same on a 3-master Redis Cluster (bench/cluster.ts), commands summed over masters. */
  clusterIdle?: IdleResult[];
  /** Redis commands per delivered message (cross-node) and per join+leave (churn). */
  redisCommands?: {
    scenario: string;
    perUnit: number;
    unit: string;
    /** Reads of client sockets by redis-server per unit (INFO stats), where measured. */
    readsPerUnit?: number;
    by: Record<string, number>;
  }[];
  /** Cross-node vs one node at the four loads of issue 11 (bench/cross-variants.ts). */
  crossVariants?: CrossVariant[];
  /** Event timestamp → arrival at the receiver (bench/webhooks.ts). */
  webhookLatency: WebhookLatency[];
  skipped: string[];
}

export interface Target {
  name: string;
  value: number | undefined;
  limit: string;
  met: boolean | undefined;
}

const f = (v: number | undefined, digits = 1) =>
  v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function relayRow(name: string, server: string, r: RelayResult, bare?: RelayResult) {
  return [
    name,
    server,
    f(r.sentPerSec, 0),
    f(r.deliveredPerSec, 0),
    f(r.loss * 100, 2),
    f(r.p50Ms, 2),
    f(r.p99Ms, 2),
    f(r.p999Ms, 2),
    f(r.cpuUsPerMsg, 2),
    bare ? f(r.cpuUsPerMsg / bare.cpuUsPerMsg, 2) : '',
    bare ? f(r.p99Ms / bare.p99Ms, 2) : '',
    f(r.genCpuPct, 0),
  ];
}

export function printReport(res: RunResults, targets: Target[]): string {
  const out: string[] = [];
  const bareOf = (name: string) =>
    res.relay.find((x) => x.name === name && x.server === 'bare')?.result;
  if (res.relay.length)
    out.push(
      table(
        [
          'relay run',
          'server',
          'sent/s',
          'deliv/s',
          'loss%',
          'p50ms',
          'p99ms',
          'p999ms',
          'cpu µs/msg',
          'cpu×bare',
          'p99×bare',
          'gen%',
        ],
        res.relay.map((x) =>
          relayRow(x.name, x.server, x.result, x.server === 'bare' ? undefined : bareOf(x.name)),
        ),
      ),
    );
  const spread = res.relay.filter((x) => (x.reps?.length ?? 0) > 1);
  if (spread.length) {
    out.push('');
    out.push(
      'every repetition (above: the run with the median CPU/msg, its p50/p99/p999 the medians of these):',
    );
    for (const x of spread)
      out.push(
        `  ${x.name} ${x.server}: cpu µs/msg ${x.reps!.map((r) => f(r.cpuUsPerMsg, 1)).join(' ')}; p99 ms ${x.reps!.map((r) => f(r.p99Ms, 1)).join(' ')}`,
      );
  }
  const sb = res.saturation.switchboard;
  const bs = res.saturation.bare;
  if (sb || bs) {
    out.push('');
    out.push(
      table(
        ['saturation (K=2, p99<50ms, 0 loss)', 'deliv/s', '×bare', 'steps', 'searches'],
        (['bare', 'switchboard'] as const)
          .filter((s) => res.saturation[s])
          .map((s) => [
            s,
            f(res.saturation[s]!.deliveredPerSec, 0),
            s === 'bare' || !bs
              ? ''
              : f(res.saturation[s]!.deliveredPerSec / bs.deliveredPerSec, 2),
            String(res.saturation[s]!.steps.length),
            (res.saturation[s]!.searches ?? []).map((x) => f(x, 0)).join(' '),
          ]),
      ),
    );
  }
  const stormRows = (['bare', 'switchboard'] as const).filter((s) => res.storm[s]);
  if (stormRows.length) {
    out.push('');
    out.push(
      table(
        ['connect storm', 'conns', 'conn/s', 'p50ms', 'p99ms', 'KiB/conn', 'mem×bare', 'gen%'],
        stormRows.map((s) => {
          const r = res.storm[s]!;
          const b = res.storm.bare;
          return [
            s,
            String(r.n),
            f(r.connPerSec, 0),
            f(r.p50Ms, 1),
            f(r.p99Ms, 1),
            f(r.kbPerConn, 2),
            s === 'bare' || !b ? '' : f(r.kbPerConn / b.kbPerConn, 2),
            f(r.genCpuPct, 0),
          ];
        }),
      ),
    );
  }
  const ic = res.idleConns;
  const icRows = (['bare', 'switchboard'] as const).filter((s) => ic?.result[s]);
  if (ic && icRows.length) {
    out.push('');
    out.push(
      table(
        [
          'idle conns (127/8 sources, rooms of 2)',
          'conns',
          'conn/s',
          'p99ms',
          'MiB before→after',
          'KiB/conn',
          'mem×bare',
          'srv µs/conn',
          'gen MiB',
        ],
        icRows.map((s) => {
          const r = ic.result[s]!;
          const b = ic.result.bare;
          return [
            s,
            String(r.n),
            f(r.connPerSec, 0),
            f(r.p99Ms, 1),
            `${f(r.baseRssKb / 1024, 0)}→${f(r.rssKb / 1024, 0)}`,
            f(r.kbPerConn, 2),
            s === 'bare' || !b ? '' : f(r.kbPerConn / b.kbPerConn, 2),
            f(r.serverCpuUsPerConn, 0),
            f(r.genRssMb, 0),
          ];
        }),
      ),
    );
    for (const s of icRows)
      if ((ic.reps[s]?.length ?? 0) > 1)
        out.push(`  ${s}: KiB/conn ${ic.reps[s]!.map((r) => f(r.kbPerConn, 2)).join(' ')}`);
    if (ic.limitNote) out.push(`  ${ic.limitNote}`);
  }
  if (res.churn.length) {
    out.push('');
    out.push(
      table(
        [
          'churn',
          'server',
          'join+leave/s',
          'cycle p50ms',
          'cycle p99ms',
          'cpu µs/op',
          'fail',
          'gen%',
        ],
        res.churn.map((x) => [
          x.name,
          x.server,
          f(x.result.opsPerSec, 0),
          f(x.result.p50Ms, 1),
          f(x.result.p99Ms, 1),
          f(x.result.cpuUsPerOp, 1),
          String(x.result.failures),
          f(x.result.genCpuPct, 0),
        ]),
      ),
    );
  }
  if (res.crossSaturation) {
    out.push('');
    out.push(
      table(
        ['cross-node saturation (50 rooms × 10, p99<50ms)', 'deliv/s', 'searches'],
        Object.entries(res.crossSaturation).map(([k, v]) => [
          k,
          f(v, 0),
          (res.crossSaturationSearches?.[k] ?? []).map((x) => f(x, 0)).join(' '),
        ]),
      ),
    );
  }
  if (res.redisCommands?.length) {
    out.push('');
    out.push(
      table(
        [
          'redis commands',
          'per unit',
          'reads/unit',
          'unit',
          'by command (calls inside scripts included)',
        ],
        res.redisCommands.map((x) => [
          x.scenario,
          f(x.perUnit, 2),
          f(x.readsPerUnit, 2),
          x.unit,
          Object.entries(x.by)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 8)
            .map(([c, n]) => `${c}=${n}`)
            .join(' '),
        ]),
      ),
    );
  }
  for (const [label, idle] of [
    ['idle rooms (2 nodes)', res.idle],
    ['idle rooms (2 nodes, pings off)', res.idleNoPings],
    ['idle rooms (2 nodes, cluster×3)', res.clusterIdle],
  ] as const)
    if (idle?.length) {
      out.push('');
      out.push(
        table(
          [label, 'redis cmds/s', 'node cpu %', 'redis cpu %', 'window ms'],
          idle.map((x) => [
            String(x.rooms),
            f(x.redisCmdsPerSec, 1),
            x.nodeCpuPct.map((c) => f(c, 2)).join(' + '),
            f(x.redisCpuPct, 2),
            String(x.windowMs),
          ]),
        ),
      );
    }
  if (res.crossVariants?.length) {
    out.push('');
    out.push(
      table(
        [
          'cross-node vs one node, 2,000 msg/s',
          'single µs/msg',
          'cross µs/msg',
          '×single',
          'cross p99 ms',
          'cross loss %',
          'single reps',
          'cross reps',
        ],
        res.crossVariants.map((x) => [
          `${x.rooms} rooms × ${x.k}, ${x.burst === 1 ? '1 msg/write' : `bursts of ${x.burst}`}`,
          f(x.single.cpuUsPerMsg, 1),
          f(x.cross.cpuUsPerMsg, 1),
          f(x.ratio, 2),
          f(x.cross.p99Ms, 2),
          f(x.cross.loss * 100, 2),
          x.singleReps.map((c) => f(c, 0)).join(' '),
          x.crossReps.map((c) => f(c, 0)).join(' '),
        ]),
      ),
    );
  }
  if (res.webhookLatency.length) {
    out.push('');
    out.push(
      table(
        ['webhook latency', 'events', 'events/s', 'p50 ms', 'p99 ms', 'max ms'],
        res.webhookLatency.map((l) => [
          `${l.queue} queue`,
          String(l.events),
          f(l.eventsPerSec, 0),
          f(l.p50Ms, 1),
          f(l.p99Ms, 1),
          f(l.maxMs, 1),
        ]),
      ),
    );
  }
  out.push('');
  out.push(
    table(
      ['target (issues 6, 11)', 'value', 'limit', 'met'],
      targets.map((t) => [
        t.name,
        f(t.value, 2),
        t.limit,
        t.met === undefined ? 'not run' : t.met ? 'yes' : 'NO',
      ]),
    ),
  );
  for (const s of res.skipped) out.push(`skipped: ${s}`);
  return out.join('\n');
}
