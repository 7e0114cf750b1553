import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Operations series, added to the application's registry (the shared ones in server/metrics.ts
 * stay as they are). Every series carries the registry's default `node` label. Label values are
 * bounded: namespaces and layers are fixed lists, centers come from the database (a user's own
 * centers), roles are the five roles; nothing a client names freely becomes a label.
 */
export function createOpsMetrics(registry: Registry) {
  return {
    eventsReceived: new Counter({
      name: 'dd_events_received_total',
      help: 'Socket events received from clients, by namespace',
      labelNames: ['namespace'] as const,
      registers: [registry],
    }),
    eventAge: new Histogram({
      name: 'dd_event_age_seconds',
      help: 'Time from a delivery change being committed (its modDate) to its emit',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    repairs: new Counter({
      name: 'dd_client_repairs_total',
      help: 'Rows repaired by the clients, by center and layer (recovery, resync, snapshot, polling), as the clients report them',
      labelNames: ['center', 'layer'] as const,
      registers: [registry],
    }),
    presence: new Gauge({
      name: 'dd_presence_clients',
      help: 'Signed-in clients on this node, by center and role',
      labelNames: ['center', 'role'] as const,
      registers: [registry],
    }),
    silentRiders: new Gauge({
      name: 'dd_presence_silent_riders',
      help: 'Riders connected to this node but silent (sum over nodes for the cluster)',
      registers: [registry],
    }),
    lagP99: new Gauge({
      name: 'dd_event_loop_lag_p99_seconds',
      help: 'p99 event-loop delay over the last report interval',
      registers: [registry],
    }),
    adapterLag: new Gauge({
      name: 'dd_adapter_lag_seconds',
      help: 'Half the round trip to the slowest other node through the Socket.IO adapter',
      registers: [registry],
    }),
    alertsActive: new Gauge({
      name: 'dd_alerts_active',
      help: 'Active alerts, by kind (reported by the evaluator node)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'dd_alert_webhook_total',
      help: 'Alert webhook deliveries, by outcome (ok, retry, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}
export type OpsMetrics = ReturnType<typeof createOpsMetrics>;
