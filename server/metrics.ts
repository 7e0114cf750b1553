import { readdir } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client defaults whose every scrape walks all of the process's handles or file descriptors
 * on the event loop: with 15,000 sockets a scrape took 30 ms of the loop (15 ms listing
 * /proc/self/fd, the rest listing handles twice), and on a busy core one scrape held a worker's
 * loop for 250 ms. `dd_connected_sockets` counts the connections; `process_open_fds` is read off
 * the loop instead (below).
 */
export const SCRAPE_WALKS_EVERY_HANDLE = [
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'process_open_fds',
] as const;

/** Where Linux lists a process's open file descriptors (absent elsewhere: the series is left out). */
const FD_DIR = '/proc/self/fd';

/**
 * Prometheus metrics (prom-client: the standard Node client). One registry per application so
 * tests can build several apps in one process.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of SCRAPE_WALKS_EVERY_HANDLE) registry.removeSingleMetric(name);
  if (process.platform === 'linux') {
    // The same series as prom-client's, listed by the thread pool instead of the event loop.
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers: [registry],
      async collect() {
        try {
          // One entry is the listing's own descriptor, as in prom-client's count.
          this.set((await readdir(FD_DIR)).length - 1);
        } catch {
          // No /proc here (a sandbox): the series keeps its last value and the scrape still answers.
        }
      },
    });
  }
  return {
    registry,
    commands: new Counter({
      name: 'dd_commands_total',
      help: 'Socket commands handled, by command and outcome',
      labelNames: ['command', 'outcome'] as const,
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'dd_connections_refused_total',
      help: 'Connections closed on arrival because this process holds its most (MAX_CONNECTIONS)',
      registers: [registry],
    }),
    unknownEvents: new Counter({
      name: 'dd_unknown_events_total',
      help: 'Inbound socket events not in the catalogue (ignored)',
      labelNames: ['namespace'] as const,
      registers: [registry],
    }),
    emitted: new Counter({
      name: 'dd_events_emitted_total',
      help: 'Events emitted to rooms, by namespace and event',
      labelNames: ['namespace', 'event'] as const,
      registers: [registry],
    }),
    published: new Counter({
      name: 'dd_publish_requests_total',
      help: 'HTTP publish API requests, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    sockets: new Gauge({
      name: 'dd_connected_sockets',
      help: 'Connected sockets on this node, by namespace',
      labelNames: ['namespace'] as const,
      registers: [registry],
    }),
    snapshotRuns: new Counter({
      name: 'dd_snapshot_runs_total',
      help: 'Snapshot broadcasts run by this node',
      registers: [registry],
    }),
    snapshotBytes: new Gauge({
      name: 'dd_snapshot_bytes',
      help: 'Bytes of the last snapshot broadcast, all centers',
      registers: [registry],
    }),
    commandSeconds: new Histogram({
      name: 'dd_command_duration_seconds',
      help: 'Time to handle a socket command',
      labelNames: ['command'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
