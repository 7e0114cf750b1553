'use client';
import Link from 'next/link';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useStore } from 'zustand';
import {
  NAMESPACES,
  PRESENCE_ROLES,
  type AlertRecord,
  type MonitorClientEvents,
  type MonitorOverview,
  type MonitorServerEvents,
} from '@/protocol';
import { connectNamespace, sendCommand, useSocketLifetime } from '../lib/socket';
import { useSession } from '../lib/session';
import { UserChip } from '../components/UserChip';
import { Chart } from './Chart';
import { createMonitorStore } from './monitor-store';
import './monitor.css';

type MonitorSocket = ReturnType<typeof connectNamespace<MonitorServerEvents, MonitorClientEvents>>;

const mb = (b: number) => `${Math.round(b / 1048576)} MB`;
const dur = (sec: number) => (sec < 120 ? `${sec}s` : sec < 7200 ? `${Math.floor(sec / 60)}m` : `${Math.floor(sec / 3600)}h`);
const time = (iso: string) => new Date(iso).toLocaleTimeString();

/** Update times of this page (overview received -> painted), for the corner figure and for tests. */
declare global {
  interface Window {
    __ddMonitorUpdates?: number[];
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** After the browser has painted: a task queued from the next animation frame. */
function afterPaint(cb: () => void) {
  requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => cb();
    ch.port2.postMessage(0);
  });
}

/**
 * Live operations view: every node, clients per center, alerts, and 15-minute charts. Everything
 * is pushed by the server over /monitor (one overview per report interval); the page never polls.
 */
export function Monitor() {
  const user = useSession();
  const isAdmin = user?.role === 'admin';
  const socket: MonitorSocket | null = useMemo(() => (isAdmin ? connectNamespace<MonitorServerEvents, MonitorClientEvents>(NAMESPACES.monitor) : null), [isAdmin]);
  useSocketLifetime(socket);
  const [store] = useState(createMonitorStore);
  const { overview, history, charts } = useStore(store, (s) => s.view);
  const [forbidden, setForbidden] = useState(false);
  const [link, setLink] = useState<'connecting' | 'live' | 'down'>('connecting');
  const [updateMs, setUpdateMs] = useState<{ last: number; p95: number } | null>(null);
  const receivedAt = useRef<number | null>(null);
  const times = useRef<number[]>([]);

  useEffect(() => {
    if (!socket) return;
    const state = store.getState();
    const onConnect = () => {
      setLink('live');
      sendCommand(socket, 'monitor:history', {}).then((h) => state.history(h), () => undefined);
    };
    const onDisconnect = () => setLink('down');
    const onError = (err: Error) => {
      if (err.message === 'unauthorized') window.location.replace(`/login?next=${encodeURIComponent('/monitor')}`);
      else if (err.message === 'forbidden') setForbidden(true);
      else setLink('down');
    };
    const onAlert = (a: AlertRecord) => state.alert(a);
    const onOverview = (o: MonitorOverview) => {
      receivedAt.current = performance.now();
      state.overview(o);
    };
    socket.on('connect', onConnect);
    socket.on('disconnect', onDisconnect);
    socket.on('connect_error', onError);
    socket.on('monitor:overview', onOverview);
    socket.on('monitor:alert', onAlert);
    return () => {
      socket.off('connect', onConnect);
      socket.off('disconnect', onDisconnect);
      socket.off('connect_error', onError);
      socket.off('monitor:overview', onOverview);
      socket.off('monitor:alert', onAlert);
    };
  }, [socket, store]);

  // Measure: overview received -> committed -> painted.
  useLayoutEffect(() => {
    const t0 = receivedAt.current;
    if (t0 === null) return;
    receivedAt.current = null;
    afterPaint(() => {
      const ms = performance.now() - t0;
      const list = times.current;
      list.push(ms);
      if (list.length > 500) list.shift();
      window.__ddMonitorUpdates = list;
      setUpdateMs({ last: ms, p95: percentile(list, 95) });
    });
  }, [overview]);

  if ((user && !isAdmin) || forbidden) {
    return (
      <div className="mon-refused" data-testid="monitor-refused" role="alert">
        <h1>Monitor</h1>
        <p>The monitor is for administrators{user ? `; you are signed in as ${user.email} (${user.role})` : ''}.</p>
        <p>
          <a href={`/login?next=${encodeURIComponent('/monitor')}`}>Sign in as an administrator</a> or go <Link href="/">back</Link>.
        </p>
      </div>
    );
  }

  const active = overview?.alerts ?? [];
  const total = overview?.nodes.reduce((a, n) => a + (n.down ? 0 : Object.values(n.sockets).reduce((x, y) => x + y, 0)), 0) ?? 0;
  return (
    <div className="mon">
      <header className="topbar">
        <h1>Dispatch Desk · Monitor</h1>
        <span className={`mon-link mon-link-${link}`} data-testid="monitor-link">
          {link === 'live' ? 'Live' : link === 'down' ? 'Disconnected' : 'Connecting'}
        </span>
        <span className="muted" data-testid="monitor-summary">
          {overview ? `${overview.nodes.filter((n) => !n.down).length} of ${overview.nodes.length} nodes up · ${total} sockets` : 'waiting for the first report…'}
        </span>
        {user && <UserChip user={user} />}
      </header>

      <section className="mon-alerts" aria-label="Active alerts" data-testid="monitor-alerts">
        {active.length === 0 ? (
          <p className="mon-ok">No active alerts.</p>
        ) : (
          active.map((a) => (
            <p key={a.id} className={`mon-alert mon-alert-${a.kind}`} role="alert" data-testid="monitor-alert" data-kind={a.kind} data-subject={a.subject}>
              <strong>{a.kind.replace(/_/g, ' ')}</strong> {a.message} <span className="muted">since {time(a.raisedAt)}</span>
            </p>
          ))
        )}
      </section>

      <section aria-label="Nodes">
        <h2>Nodes</h2>
        <table className="mon-table" data-testid="monitor-nodes">
          <thead>
            <tr>
              <th>node</th>
              <th>host / pid</th>
              <th>up</th>
              <th>CPU</th>
              <th>RSS</th>
              <th>loop lag p99</th>
              <th>/dispatch</th>
              <th>/chat</th>
              <th>/callcenter</th>
              <th>/monitor</th>
              <th>events in/s</th>
              <th>out/s</th>
              <th>adapter lag</th>
              <th>gauges</th>
            </tr>
          </thead>
          <tbody>
            {overview?.nodes.map((n) => (
              <tr key={n.nodeId} className={n.down ? 'mon-down' : undefined} data-testid="monitor-node" data-node={n.nodeId} data-down={n.down ? 'true' : 'false'}>
                <td>
                  {n.nodeId} {n.down && <strong className="mon-down-tag">DOWN</strong>}
                </td>
                <td>
                  {n.host} / {n.pid}
                </td>
                <td>{dur(n.uptimeSec)}</td>
                <td>{n.cpuPct.toFixed(0)}%</td>
                <td>{mb(n.rssBytes)}</td>
                <td>{n.lagP99Ms.toFixed(1)} ms</td>
                <td>{n.sockets['/dispatch'] ?? 0}</td>
                <td>{n.sockets['/chat'] ?? 0}</td>
                <td>{n.sockets['/callcenter'] ?? 0}</td>
                <td>{n.sockets['/monitor'] ?? 0}</td>
                <td>{n.eventsInPerSec.toFixed(1)}</td>
                <td>{n.eventsOutPerSec.toFixed(1)}</td>
                <td>{n.adapterLagMs === null ? '–' : `${n.adapterLagMs} ms`}</td>
                <td>
                  {Object.entries(n.gauges)
                    .map(([k, v]) => `${k} ${v}`)
                    .join(', ') || '–'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-label="Clients per center">
        <h2>Clients per center</h2>
        <table className="mon-table" data-testid="monitor-centers">
          <thead>
            <tr>
              <th>center</th>
              {PRESENCE_ROLES.map((r) => (
                <th key={r}>{r}</th>
              ))}
              <th>total</th>
            </tr>
          </thead>
          <tbody>
            {overview?.centers.map((c) => (
              <tr key={c.centerId} data-testid={`monitor-center-${c.centerId}`}>
                <td>{c.centerId === 0 ? 'no center' : `center ${c.centerId}`}</td>
                {PRESENCE_ROLES.map((r) => (
                  <td key={r}>{c.roles[r] ?? 0}</td>
                ))}
                <td>{c.total}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      {charts && (
        <section className="mon-charts" aria-label="Last 15 minutes">
          <Chart title="Sockets" labels={charts.nodes} data={charts.sockets} unit="" testId="chart-sockets" />
          <Chart title="Events in / s" labels={charts.nodes} data={charts.evIn} unit="" testId="chart-events-in" />
          <Chart title="Events out / s" labels={charts.nodes} data={charts.evOut} unit="" testId="chart-events-out" />
          <Chart title="Event-loop lag p99" labels={charts.nodes} data={charts.lag} unit="ms" testId="chart-lag" />
          <Chart title="CPU" labels={charts.nodes} data={charts.cpu} unit="%" testId="chart-cpu" />
          <Chart title="RSS" labels={charts.nodes} data={charts.rss} unit="MB" testId="chart-rss" />
        </section>
      )}

      <section aria-label="Alert history">
        <h2>Alert history</h2>
        <ul className="mon-history" data-testid="monitor-history">
          {history.map((a) => (
            <li key={a.id}>
              {time(a.raisedAt)} <strong>{a.kind.replace(/_/g, ' ')}</strong> {a.subject}: {a.message}{' '}
              {a.resolvedAt ? <span className="muted">resolved {time(a.resolvedAt)}</span> : <strong>active</strong>}
            </li>
          ))}
        </ul>
      </section>

      <output className="mon-update" data-testid="monitor-update-ms" title="Time from an overview arriving to it being painted (last, p95)">
        {updateMs ? `update ${updateMs.last.toFixed(1)} ms · p95 ${updateMs.p95.toFixed(1)} ms` : 'update –'}
      </output>
    </div>
  );
}
