/**
 * Issue 11's cross-node CPU target holds "at 2,000 msg/s with 500 rooms × 2 and with 50 rooms
 * × 10, one message per write and in trickle-ICE bursts": the four loads, each measured on one
 * Switchboard node and on the two nodes + Redis of the same run, repetitions alternating
 * single/cross, so each ratio comes from neighbouring measurements. (The headline 500 × 2
 * row of the main table is one of them, measured again here so all four are alike.)
 */
import type { RelayCmd, RelayResult } from './generator.js';

export interface CrossVariant {
  rooms: number;
  k: number;
  burst: number;
  single: RelayResult;
  cross: RelayResult;
  /** Cross-node CPU per delivered message (both nodes + Redis) ÷ one node's. */
  ratio: number;
  singleReps: number[];
  crossReps: number[];
}

export const VARIANTS: { rooms: number; k: number; burst: number }[] = [
  { rooms: 500, k: 2, burst: 1 },
  { rooms: 500, k: 2, burst: 5 },
  { rooms: 50, k: 10, burst: 1 },
  { rooms: 50, k: 10, burst: 5 },
];

export interface VariantRun {
  run: (cmd: RelayCmd) => Promise<RelayResult>;
  /** One node (memory backend) and the two nodes + Redis, with the pids to charge. */
  single: { url: string; pids: number[] };
  cross: { urls: string[]; pids: number[] };
  cmd: (
    urls: string[],
    tag: string,
    k: number,
    rooms: number,
    pids: number[],
    burst: number,
  ) => RelayCmd;
  reps: number;
  log: (s: string) => void;
  median: (reps: RelayResult[]) => RelayResult;
}

export async function crossVariants(v: VariantRun): Promise<CrossVariant[]> {
  const out: CrossVariant[] = [];
  for (const { rooms, k, burst } of VARIANTS) {
    const tag = `${rooms}x${k}b${burst}`;
    const single = (t: string) => v.cmd([v.single.url], t, k, rooms, v.single.pids, burst);
    const cross = (t: string) => v.cmd(v.cross.urls, t, k, rooms, v.cross.pids, burst);
    // Unmeasured first runs: the rooms of this shape are new to both setups (JIT, maps).
    await v.run(single(`vs-warm-${tag}`));
    await v.run(cross(`vx-warm-${tag}`));
    const s: RelayResult[] = [];
    const x: RelayResult[] = [];
    for (let i = 0; i < v.reps; i++) {
      s.push(await v.run(single(`vs${i}-${tag}`)));
      x.push(await v.run(cross(`vx${i}-${tag}`)));
    }
    const sm = v.median(s);
    const xm = v.median(x);
    const ratio = xm.cpuUsPerMsg / sm.cpuUsPerMsg;
    v.log(
      `variant ${rooms} rooms × ${k}, burst ${burst}: single ${sm.cpuUsPerMsg.toFixed(1)} µs/msg, cross ${xm.cpuUsPerMsg.toFixed(1)} µs/msg (${ratio.toFixed(2)}×), cross p99 ${xm.p99Ms.toFixed(1)} ms, loss ${(xm.loss * 100).toFixed(2)} %`,
    );
    out.push({
      rooms,
      k,
      burst,
      single: sm,
      cross: xm,
      ratio,
      singleReps: s.map((r) => r.cpuUsPerMsg),
      crossReps: x.map((r) => r.cpuUsPerMsg),
    });
  }
  return out;
}
