/**
 * How many bytes the kernel can hold for one loopback TCP connection whose receiver stopped
 * reading, so a backpressure test can send past it by construction instead of hoping.
 *
 * Linux autotunes each socket's buffers: the receiver's up to net.ipv4.tcp_rmem[2] (6 MiB on
 * older kernels, 32 MiB on newer ones), the sender's up to net.ipv4.tcp_wmem[2] (4 MiB). A
 * paused receiver on loopback absorbed 8 MiB on one machine and far less on another, which is
 * what made a fixed-size burst pass on some machines and not others. Node sets neither
 * SO_RCVBUF nor SO_SNDBUF, so these maxima bound what the kernel holds.
 */
import { readFileSync } from 'node:fs';

/** Where /proc is absent (not Linux): a generous stand-in for both maxima together. */
const UNKNOWN_KERNEL_BYTES = 64 * 1024 * 1024;

function sysctlMax(name: string): number | undefined {
  try {
    const fields = readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/);
    const max = Number(fields[2]);
    return Number.isFinite(max) && max > 0 ? max : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Upper bound on the payload bytes that the kernel buffers of one connection (the receiver's
 * receive buffer plus the sender's send buffer) can hold. `readAhead` covers what the
 * receiving Node socket reads into its stream buffer before pausing stops it (one 64 KiB read
 * plus its highWaterMark).
 */
export function kernelBufferBound(readAhead = 128 * 1024): number {
  const rmem = sysctlMax('tcp_rmem');
  const wmem = sysctlMax('tcp_wmem');
  if (rmem === undefined || wmem === undefined) return UNKNOWN_KERNEL_BYTES + readAhead;
  return rmem + wmem + readAhead;
}
