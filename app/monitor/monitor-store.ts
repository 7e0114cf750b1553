import { createStore } from 'zustand/vanilla';
import { nodeSample, type AlertRecord, type MonitorHistory, type MonitorOverview } from '@/protocol';
import { createSeries, type SampleKey } from './series';

type Aligned = [number[], ...(number | null)[][]];
export interface MonitorCharts {
  nodes: string[];
  sockets: Aligned;
  cpu: Aligned;
  lag: Aligned;
  evIn: Aligned;
  evOut: Aligned;
  rss: Aligned;
}

export interface MonitorView {
  overview: MonitorOverview | null;
  /** Recent alerts, newest first (raised and resolved). */
  history: AlertRecord[];
  charts: MonitorCharts | null;
}

export interface MonitorState {
  view: MonitorView;
  overview(o: MonitorOverview): void;
  history(h: MonitorHistory): void;
  alert(a: AlertRecord): void;
}

/**
 * The monitor page's data, framework-free: each pushed overview adds one point per live node to
 * the 15-minute series and rebuilds the charts' aligned data; a pushed alert shows at once.
 */
export function createMonitorStore() {
  const series = createSeries(2000);
  const charts = (): MonitorCharts => {
    const nodes = series.nodes();
    const build = (key: SampleKey, scale = 1) => series.aligned(key, nodes, scale);
    return { nodes, sockets: build('sockets'), cpu: build('cpuPct'), lag: build('lagP99Ms'), evIn: build('eventsInPerSec'), evOut: build('eventsOutPerSec'), rss: build('rssBytes', 1 / 1048576) };
  };
  return createStore<MonitorState>()((set) => ({
    view: { overview: null, history: [], charts: null },
    overview(o) {
      for (const n of o.nodes) if (!n.down) series.add(n.nodeId, nodeSample(n));
      series.prune(o.sentAt);
      set((s) => ({ view: { ...s.view, overview: o, charts: charts() } }));
    },
    history(h) {
      for (const n of h.nodes) for (const sample of n.samples) series.add(n.nodeId, sample);
      set((s) => ({ view: { ...s.view, history: h.alerts, charts: charts() } }));
    },
    alert(a) {
      set((s) => {
        const o = s.view.overview;
        const alerts = o ? (a.resolvedAt ? o.alerts.filter((x) => x.id !== a.id) : [...o.alerts.filter((x) => x.id !== a.id), a]) : [];
        return { view: { ...s.view, history: [a, ...s.view.history.filter((x) => x.id !== a.id)].slice(0, 50), overview: o ? { ...o, alerts } : o } };
      });
    },
  }));
}
export type MonitorStore = ReturnType<typeof createMonitorStore>;
