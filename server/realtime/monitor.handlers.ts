import { z } from 'zod';
import type { MonitorStats } from '../../protocol';
import type { Metrics } from '../metrics';
import { shareCommands, socketCommand, type CommandDeps } from './ack';
import type { MonitorNamespace, Namespaces } from './types';

/** This node's live picture: sockets per namespace and per room. */
export async function collectStats(ns: Namespaces, metrics: Metrics): Promise<MonitorStats> {
  const list = [ns.dispatch, ns.chat, ns.callcenter, ns.monitor];
  const unknown = await metrics.unknownEvents.get();
  return {
    serverTime: new Date().toISOString(),
    namespaces: list.map((n) => ({
      name: n.name,
      sockets: n.sockets.size,
      rooms: [...n.adapter.rooms.entries()]
        .filter(([room]) => !n.sockets.has(room)) // skip each socket's own id room
        .map(([room, members]) => ({ name: room, sockets: members.size }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    })),
    unknownEvents: unknown.values.reduce((a, v) => a + v.value, 0),
  };
}

/** The /monitor namespace (admins only): stats on demand and every few seconds. */
export function registerMonitorHandlers(nsp: MonitorNamespace, ns: Namespaces, deps: CommandDeps, intervalMs = 5000): () => void {
  const stats = socketCommand(deps, 'monitor:stats', z.unknown(), () => collectStats(ns, deps.metrics));
  shareCommands(nsp, { 'monitor:stats': stats });
  const timer = setInterval(() => {
    if (nsp.sockets.size === 0) return;
    void collectStats(ns, deps.metrics).then((s) => nsp.emit('monitor:stats', s));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
