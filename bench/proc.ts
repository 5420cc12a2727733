/** Reading a process's CPU time and memory from /proc (Linux), for any pid on the machine. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // getconf missing: 100 is the Linux default
}

/** utime and stime of a process (all its threads, live and exited), in ms. */
export function cpuTimes(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3 (state).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(rest[11]) * 1000) / clkTck, sys: (Number(rest[12]) * 1000) / clkTck };
}

/** utime + stime of a process, in ms. */
export function cpuMs(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** Resident set size of a process, in KiB. */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)/.exec(status);
  return m ? Number(m[1]) : NaN;
}
