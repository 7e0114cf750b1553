import type { NodeSample } from '@/protocol';

/** The window the charts show. */
export const WINDOW_MS = 15 * 60_000;

export type SampleKey = Exclude<keyof NodeSample, 't'>;

/** One point per node and report period (samples are bucketed on the report interval). */
export function createSeries(intervalMs: number) {
  const byNode = new Map<string, Map<number, NodeSample>>();
  const bucket = (t: number) => Math.round(t / intervalMs) * intervalMs;
  return {
    add(nodeId: string, s: NodeSample) {
      let m = byNode.get(nodeId);
      if (!m) byNode.set(nodeId, (m = new Map<number, NodeSample>()));
      m.set(bucket(s.t), s);
    },
    prune(now: number) {
      for (const [id, m] of byNode) {
        for (const t of m.keys()) if (t < now - WINDOW_MS) m.delete(t);
        if (m.size === 0) byNode.delete(id);
      }
    },
    nodes: () => [...byNode.keys()].sort(),
    /** uPlot's aligned data: x in seconds, then one array per node (null where it had no point). */
    aligned(key: SampleKey, nodes: string[], scale = 1): [number[], ...(number | null)[][]] {
      const xs = [...new Set(nodes.flatMap((id) => [...(byNode.get(id)?.keys() ?? [])]))].sort((a, b) => a - b);
      return [xs.map((t) => t / 1000), ...nodes.map((id) => xs.map((t) => {
        const v = byNode.get(id)?.get(t)?.[key];
        return v === undefined ? null : v * scale;
      }))];
    },
  };
}
export type Series = ReturnType<typeof createSeries>;
