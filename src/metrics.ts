/**
 * Prometheus metrics (SPEC.md §8). Names are a public interface. No label ever carries a room,
 * client id or token: labels are small fixed sets (refusal reason, limit kind, operation).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  activeConnections: Gauge;
  localRooms: Gauge;
  messagesForwarded: Counter;
  schemaRejects: Counter;
  rateLimitDrops: Counter<'limit'>;
  backpressureCloses: Counter;
  redisOperationDuration: Histogram<'operation'>;
  fanoutDuration: Histogram;
  redisUp: Gauge;
  circuitBreakerOpen: Gauge;
  admissionRefusals: Counter<'reason'>;
  disconnects: Counter<'cause'>;
  redisPublishFailures: Counter;
  reapedMembers: Counter;
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
    messagesForwarded: new Counter({
      name: 'signaling_messages_forwarded_total',
      help: 'Valid messages accepted and forwarded (counted once per message, not per receiver)',
      registers,
    }),
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
    fanoutDuration: new Histogram({
      name: 'signaling_fanout_duration_seconds',
      help: 'Time to hand one message to every local receiver',
      buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    }),
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
  };
}
