/** Percentiles over a bounded sample buffer (latencies in microseconds). */

export class Samples {
  private readonly data: Float64Array;
  count = 0;
  /** Samples seen beyond capacity (the buffer keeps the first `capacity`). */
  dropped = 0;

  constructor(capacity: number) {
    this.data = new Float64Array(capacity);
  }

  add(v: number): void {
    if (this.count < this.data.length) this.data[this.count++] = v;
    else this.dropped++;
  }

  percentiles(): { p50: number; p99: number; p999: number; max: number } {
    const s = this.data.subarray(0, this.count).sort();
    const at = (q: number) =>
      s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s.length ? s[s.length - 1]! : NaN };
  }
}
