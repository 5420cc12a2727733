/**
 * Saturation: the highest rate at which a server keeps p99 under 50 ms with zero loss and the
 * rate actually sent. A search climbs by ×1.6 until a step fails, then bisects.
 *
 * One search is a draw on a shared 2-core VM: it returns the last rate that passed before the
 * first step (tried twice) whose p99 crossed the bound, and one descheduling of any server
 * process on core 0 decides that step (single searches of one build read 0.23× to 4.09× of
 * Socket.IO's across nodes, and 0.50× to 0.91× of the bare relay on one node, in one day). So
 * the bench repeats the search, alternating the servers compared, and reports the median of
 * the searches with every search beside it.
 */
import type { RelayCmd, RelayResult } from './generator.js';
import type { Generator } from './servers.js';

export const SAT_P99_MS = 50;

export interface SaturationOptions {
  gen: Generator;
  log: (line: string) => void;
  /** Steps bisected after the first failing rate. */
  bisect: number;
  /** The relay command of one step at `rate` sent msg/s. */
  mk: (tag: string, rate: number) => RelayCmd;
  /** First rate tried (sent msg/s). */
  start: number;
}

export interface Search {
  deliveredPerSec: number;
  rate: number;
  steps: RelayResult[];
}

/** The median search, with every search's deliveries/s (in the order run) and all their steps. */
export interface Saturation extends Search {
  searches: number[];
}

/** One search. */
export async function saturate(server: string, o: SaturationOptions): Promise<Search> {
  const steps: RelayResult[] = [];
  // A failed step is tried once more: on a shared machine one descheduling of the server can
  // push a short step's p99 over the bound without the load being the cause.
  const trial = async (rate: number, retry = true): Promise<RelayResult | undefined> => {
    const r = await o.gen.run<RelayResult>(o.mk(`sat${steps.length}`, Math.round(rate)));
    steps.push(r);
    const pass = r.p99Ms < SAT_P99_MS && r.loss === 0 && r.sentPerSec >= 0.95 * rate;
    o.log(
      `saturation ${server} @${Math.round(rate)}/s: ${pass ? 'pass' : 'fail'} (deliv ${r.deliveredPerSec.toFixed(0)}/s p99 ${r.p99Ms.toFixed(1)} ms loss ${(r.loss * 100).toFixed(2)}% gen ${r.genCpuPct.toFixed(0)}%)`,
    );
    return pass ? r : retry ? trial(rate, false) : undefined;
  };
  let best: RelayResult | undefined;
  let lo = 0;
  let hi = 0;
  for (let rate = o.start; rate <= 400_000; rate *= 1.6) {
    const r = await trial(rate);
    if (!r) {
      hi = rate;
      break;
    }
    best = r;
    lo = rate;
  }
  for (let i = 0; i < o.bisect && hi > 0; i++) {
    const mid = (lo + hi) / 2;
    const r = await trial(mid);
    if (r) {
      best = r;
      lo = mid;
    } else hi = mid;
  }
  return { deliveredPerSec: best?.deliveredPerSec ?? 0, rate: lo, steps };
}

/**
 * `rounds` searches of every server, alternating (A B, A B, …), so that a disturbed minute of
 * the machine falls on both; per server the median search by deliveries/s.
 */
export async function saturateAlternated<S extends string>(
  servers: readonly S[],
  rounds: number,
  opts: (server: S) => SaturationOptions,
): Promise<Record<S, Saturation>> {
  const runs = new Map<S, Search[]>(servers.map((s) => [s, []]));
  for (let i = 0; i < rounds; i++)
    for (const server of servers) {
      const o = opts(server);
      const search = await saturate(server, o);
      runs.get(server)!.push(search);
      o.log(
        `saturation ${server}, search ${i + 1}/${rounds}: ${search.deliveredPerSec.toFixed(0)} deliv/s`,
      );
    }
  const out = {} as Record<S, Saturation>;
  for (const [server, searches] of runs) {
    const sorted = [...searches].sort((a, b) => a.deliveredPerSec - b.deliveredPerSec);
    const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
    out[server] = {
      ...mid,
      steps: searches.flatMap((s) => s.steps),
      searches: searches.map((s) => s.deliveredPerSec),
    };
  }
  return out;
}
