/**
 * Summarize a V8 .cpuprofile (from `node --cpu-prof`): self time per function, top N, so a
 * profile can be read (and quoted in docs/performance.md) without a flame-graph viewer.
 * Usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [N] [--after=SECONDS]
 * --after: only the samples taken that long after the profile started (a warm process: the
 * `--profile=churn` run warms its nodes for MODE.churnWarmMs first and says what to pass).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const [file, topArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: profile-summary <file.cpuprofile> [N] [--after=SECONDS]');
const top = Number(topArg ?? 30);
const afterArg = process.argv.find((a) => a.startsWith('--after='));
const afterUs = afterArg ? Number(afterArg.slice('--after='.length)) * 1e6 : 0;
const prof = JSON.parse(readFileSync(file, 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const hits = new Map<number, number>();
let at = 0;
let total = 0;
prof.samples.forEach((s, i) => {
  at += prof.timeDeltas[i] ?? 0;
  if (at < afterUs) return;
  hits.set(s, (hits.get(s) ?? 0) + 1);
  total++;
});
const self = new Map<string, number>();
const label = (n: Node) => {
  const f = n.callFrame;
  const where = f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
};
for (const [id, n] of hits) {
  const key = label(byId.get(id)!);
  self.set(key, (self.get(key) ?? 0) + n);
}
// Inclusive time of our own source files' functions (what the hot path costs end to end).
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map<string, number>();
for (const [id, n] of hits) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur)!;
    if (!node.callFrame.url.includes('/src/')) continue;
    const key = label(node);
    if (seen.has(key)) continue;
    seen.add(key);
    incl.set(key, (incl.get(key) ?? 0) + n);
  }
}
const pct = (n: number) => ((n * 100) / total).toFixed(1).padStart(5) + '%';
console.log(`${total} samples; self time, top ${top}:`);
for (const [k, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${pct(n)}  ${k}`);
console.log(`\ninclusive time of Switchboard functions:`);
for (const [k, n] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 15))
  console.log(`${pct(n)}  ${k}`);
