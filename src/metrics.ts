/**
 * Prometheus metrics (SPEC.md §8). Names are a public interface. No label ever carries a room,
 * client id or token: labels are small fixed sets (refusal reason, limit kind, operation).
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type Metric,
  type MetricType,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from 'prom-client';

/**
 * A label-less histogram for the per-message hot path, exposed by prom-client's registry in
 * exactly the format of its own Histogram. Written here because prom-client's observe() hashes
 * a labels object and indexes the bucket counts by each bound turned into a property key on
 * every call: 11 % of Switchboard's whole per-message JavaScript (bench/hot-path.ts under
 * --cpu-prof). This one is a bound search and three additions.
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Per bucket, not cumulative; the last one is +Inf. Their total is the count. */
  private readonly counts: Float64Array;
  private sum = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registers: Registry[],
  ) {
    this.counts = new Float64Array(buckets.length + 1);
    for (const r of registers) r.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
  }

  /** What prom-client's Registry reads from a metric (its Histogram's get(), minus exemplars). */
  async get(): Promise<Omit<MetricObjectWithValues<MetricValueWithName<string>>, 'collect'>> {
    const bucket = `${this.name}_bucket`;
    // `exemplar` as prom-client's Histogram sets it (never used here), so the JSON matches too.
    const values: (MetricValueWithName<string> & { exemplar: null | undefined })[] = [];
    let acc = 0;
    this.buckets.forEach((le, i) => {
      acc += this.counts[i]!;
      values.push({ labels: { le }, value: acc, metricName: bucket, exemplar: null });
    });
    const count = acc + this.counts[this.buckets.length]!;
    values.push(
      { labels: { le: '+Inf' }, value: count, metricName: bucket, exemplar: null },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum`, exemplar: undefined },
      { labels: {}, value: count, metricName: `${this.name}_count`, exemplar: undefined },
    );
    return {
      name: this.name,
      help: this.help,
      // prom-client's typings declare the type as an enum its runtime does not export; the registry
      // prints this string.
      type: this.type as unknown as MetricType,
      values,
      aggregator: this.aggregator,
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
  }
}

/**
 * A label-less prom-client Counter whose hot-path increments are a plain addition, folded into
 * the Counter when it is read (prom-client calls `collect` on every scrape and every get()).
 */
export class HotCounter extends Counter {
  private pending = 0;

  constructor(name: string, help: string, registers: Registry[]) {
    super({
      name,
      help,
      registers,
      collect() {
        (this as HotCounter).flush();
      },
    });
  }

  add(): void {
    this.pending++;
  }

  private flush(): void {
    if (this.pending === 0) return;
    this.inc(this.pending);
    this.pending = 0;
  }
}

export interface Metrics {
  registry: Registry;
  activeConnections: Gauge;
  localRooms: Gauge;
  messagesForwarded: HotCounter;
  schemaRejects: Counter;
  rateLimitDrops: Counter<'limit'>;
  backpressureCloses: Counter;
  redisOperationDuration: Histogram<'operation'>;
  fanoutDuration: HotHistogram;
  redisUp: Gauge;
  circuitBreakerOpen: Gauge;
  admissionRefusals: Counter<'reason'>;
  disconnects: Counter<'cause'>;
  redisPublishFailures: Counter;
  reapedMembers: Counter;
  resumes: Counter<'result'>;
  detachedPeers: Gauge;
  turnCredentialsIssued: Counter<'via'>;
  apiRequests: Counter<'route' | 'status'>;
}

export function createMetrics(registry = new Registry(), withDefaults = true): Metrics {
  if (withDefaults)
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const registers = [registry];
  return {
    registry,
    activeConnections: new Gauge({
      name: 'signaling_active_connections',
      help: 'Open, admitted WebSocket connections on this node',
      registers,
    }),
    localRooms: new Gauge({
      name: 'signaling_local_rooms',
      help: 'Rooms with at least one member on this node',
      registers,
    }),
    messagesForwarded: new HotCounter(
      'signaling_messages_forwarded_total',
      'Valid messages accepted and forwarded (counted once per message, not per receiver)',
      registers,
    ),
    schemaRejects: new Counter({
      name: 'signaling_schema_rejects_total',
      help: 'JSON messages that matched no shape',
      registers,
    }),
    rateLimitDrops: new Counter({
      name: 'signaling_rate_limit_drops_total',
      help: 'Messages dropped by a rate limit',
      labelNames: ['limit'],
      registers,
    }),
    backpressureCloses: new Counter({
      name: 'signaling_backpressure_closes_total',
      help: 'Connections closed because their send buffer exceeded the threshold',
      registers,
    }),
    redisOperationDuration: new Histogram({
      name: 'signaling_redis_operation_duration_seconds',
      help: 'Duration of Redis operations',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    fanoutDuration: new HotHistogram(
      'signaling_fanout_duration_seconds',
      'Time to hand one message to every local receiver',
      [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    ),
    redisUp: new Gauge({
      name: 'signaling_redis_up',
      help: '1 when Redis answers, 0 when not (absent meaning: memory backend reports 0)',
      registers,
    }),
    circuitBreakerOpen: new Gauge({
      name: 'signaling_circuit_breaker_open',
      help: '1 while the Redis circuit breaker is open',
      registers,
    }),
    admissionRefusals: new Counter({
      name: 'signaling_admission_refusals_total',
      help: 'Connections refused at admission, by reason',
      labelNames: ['reason'],
      registers,
    }),
    disconnects: new Counter({
      name: 'signaling_disconnects_total',
      help: 'Admitted connections that left, by cause',
      labelNames: ['cause'],
      registers,
    }),
    redisPublishFailures: new Counter({
      name: 'signaling_redis_publish_failures_total',
      help: 'Cross-node publishes that failed (local delivery was not affected)',
      registers,
    }),
    reapedMembers: new Counter({
      name: 'signaling_reaped_members_total',
      help: 'Members of crashed nodes removed by this node',
      registers,
    }),
    resumes: new Counter({
      name: 'signaling_resumes_total',
      help: 'Resume attempts (SPEC.md §13) by result: resumed, expired, unknown, overflow',
      labelNames: ['result'],
      registers,
    }),
    detachedPeers: new Gauge({
      name: 'signaling_detached_peers',
      help: 'Peers detached from this node and still resumable, as far as this node knows',
      registers,
    }),
    turnCredentialsIssued: new Counter({
      name: 'signaling_turn_credentials_issued_total',
      help: 'TURN credentials minted (SPEC.md §12), by where they went: welcome, refresh, http',
      labelNames: ['via'],
      registers,
    }),
    apiRequests: new Counter({
      name: 'signaling_api_requests_total',
      help: 'Server API requests answered by this node, by route template and HTTP status',
      labelNames: ['route', 'status'],
      registers,
    }),
  };
}
