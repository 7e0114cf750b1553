import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { NodeStats, PresenceRole } from '../../protocol';

export interface NodeStatsSources {
  nodeId: string;
  /** Sockets per namespace on this node. */
  sockets(): Record<string, number>;
  /** Cumulative events received / emitted on this node. */
  eventsIn(): number;
  eventsOut(): Promise<number>;
  /** Clients per center and role on this node. */
  centers(): Record<string, Partial<Record<PresenceRole, number>>>;
  /** Last measured adapter lag (ms), or null. */
  adapterLagMs(): number | null;
  gauges(): Record<string, number>;
}

/**
 * Builds this node's stats record: CPU share since the last call, memory, the p99 of the
 * event-loop delay (perf_hooks histogram, reset every call) and rates from cumulative counters.
 */
export function createNodeStatsCollector(src: NodeStatsSources) {
  const startedAt = new Date();
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  let lastCpu = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  let lastIn = src.eventsIn();
  let lastOut: number | null = null;

  return {
    startedAt,
    async collect(): Promise<NodeStats> {
      const nowNs = process.hrtime.bigint();
      const elapsedMs = Math.max(1, Number(nowNs - lastAt) / 1e6);
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      lastAt = nowNs;
      const cpuPct = ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100;
      const lagP99Ms = eld.count > 0 ? eld.percentile(99) / 1e6 : 0;
      eld.reset();
      const inTotal = src.eventsIn();
      const outTotal = await src.eventsOut();
      const eventsInPerSec = ((inTotal - lastIn) * 1000) / elapsedMs;
      const eventsOutPerSec = lastOut === null ? 0 : ((outTotal - lastOut) * 1000) / elapsedMs;
      lastIn = inTotal;
      lastOut = outTotal;
      const mem = process.memoryUsage();
      const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
      return {
        nodeId: src.nodeId,
        host: os.hostname(),
        pid: process.pid,
        startedAt: startedAt.toISOString(),
        reportedAt: new Date().toISOString(),
        uptimeSec: Math.round(process.uptime()),
        cpuPct: round(cpuPct),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        lagP99Ms: round(lagP99Ms, 2),
        sockets: src.sockets(),
        eventsInPerSec: round(eventsInPerSec),
        eventsOutPerSec: round(eventsOutPerSec),
        adapterLagMs: src.adapterLagMs(),
        centers: src.centers(),
        gauges: src.gauges(),
      };
    },
    stop() {
      eld.disable();
    },
  };
}
