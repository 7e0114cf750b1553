'use client';
import { useEffect, useMemo, useState } from 'react';
import { countByStatus, type Center, type DeliveryStatus, type DeliverySyncResponse } from '@/protocol';
import { createDeliverySync } from '../lib/delivery-sync';
import { getJson } from '../lib/http';
import { logout, useSession } from '../lib/session';
import { connectDispatch, type DispatchSocket } from '../lib/socket';
import { useDeliveries, useDeliveriesStoreApi } from '../lib/store-context';
import { ConnectionBadge } from './ConnectionBadge';
import { DeliveryList } from './DeliveryList';
import { StatusCounters, STATUS_LABEL } from './StatusCounters';

type Selection = number | 'all';

function readCenterFromUrl(): Selection | null {
  const raw = new URLSearchParams(window.location.search).get('center');
  if (raw === 'all') return 'all';
  const v = Number(raw);
  return Number.isInteger(v) && v > 0 ? v : null;
}

/** The dispatcher's (and HQ's) live board. */
export function Dashboard() {
  const store = useDeliveriesStoreApi();
  const user = useSession();
  const [centers, setCenters] = useState<Center[]>([]);
  const [selection, setSelection] = useState<Selection | null>(null);
  const [filter, setFilter] = useState<DeliveryStatus | 'all'>('all');
  const [socket, setSocket] = useState<DispatchSocket | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const syncError = useDeliveries((s) => s.sync.error);

  // The centers this user may see, then one socket for the page's life.
  useEffect(() => {
    if (!user) return;
    getJson<Center[]>('/api/centers')
      .then((list) => {
        setCenters(list);
        setSelection(readCenterFromUrl() ?? list[0]?.id ?? null);
      })
      .catch((e: Error) => setLoadError(e.message));
    const s = connectDispatch();
    s.on('connect_error', (err) => {
      if (err.message === 'unauthorized') window.location.replace('/login');
    });
    setSocket(s);
    return () => {
      s.disconnect();
      setSocket(null);
    };
  }, [user]);

  // Follow the chosen center (or all of them): events, resync, snapshots and polling.
  useEffect(() => {
    if (!socket || selection === null || centers.length === 0) return;
    const ids = selection === 'all' ? centers.map((c) => c.id) : [selection];
    const sync = createDeliverySync({
      socket,
      store: store.getState().rowStore,
      centers: { ids, all: selection === 'all' },
      fetchDelta: (centerId, since) =>
        getJson<DeliverySyncResponse>(`/api/centers/${centerId}/deliveries${since ? `?since=${encodeURIComponent(since)}` : ''}`),
      onStatus: (status) => store.getState().setSync(status),
      schedule: (flush) => requestAnimationFrame(flush),
    });
    return () => {
      sync.stop();
      if (socket.connected) socket.emit('center:leave', selection === 'all' ? { all: true } : { centerId: selection }, () => undefined);
      store.getState().reset();
    };
  }, [socket, selection, centers, store]);

  const revision = useDeliveries((s) => s.revision);
  const { visible, counts } = useMemo(() => {
    const all = [...store.getState().rows.values()].filter((r) => selection === 'all' || r.centerId === selection);
    all.sort((a, b) => b.deliverySeq - a.deliverySeq);
    return { visible: filter === 'all' ? all : all.filter((r) => r.status === filter), counts: countByStatus(all) };
    // `revision` stands for the rows map, which the merge mutates in place.
  }, [revision, selection, filter, store]);

  const everyCenter = user?.role === 'hq' || user?.role === 'admin';
  const center = centers.find((c) => c.id === selection);
  const error = loadError ?? syncError;
  return (
    <div className="shell">
      <header className="topbar">
        <h1>Dispatch Desk</h1>
        <label className="center-select">
          <span className="sr-only">Center</span>
          <select
            data-testid="center-select"
            value={selection ?? ''}
            onChange={(e) => {
              const next: Selection = e.target.value === 'all' ? 'all' : Number(e.target.value);
              setSelection(next);
              const url = new URL(window.location.href);
              url.searchParams.set('center', String(next));
              window.history.replaceState(null, '', url);
            }}
          >
            {everyCenter && <option value="all">All centers</option>}
            {centers.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <ConnectionBadge />
        {user && (
          <span className="user-chip" data-testid="user-chip">
            {user.name}
            <button type="button" onClick={() => void logout()} data-testid="logout">
              Sign out
            </button>
          </span>
        )}
      </header>
      {error && (
        <p className="error" role="alert" data-testid="error">
          {error}
        </p>
      )}
      <section className="toolbar" aria-label="Filters">
        <StatusCounters counts={counts} />
        <div className="filters" role="group" aria-label="Show">
          {(['all', 'waiting', 'assigned', 'picked_up', 'delivered', 'cancelled'] as const).map((f) => (
            <button
              key={f}
              type="button"
              className={filter === f ? 'chip active' : 'chip'}
              aria-pressed={filter === f}
              data-testid={`filter-${f}`}
              onClick={() => setFilter(f)}
            >
              {f === 'all' ? 'All' : STATUS_LABEL[f]}
            </button>
          ))}
        </div>
      </section>
      <main className="main">
        <h2 className="sr-only">{center ? `${center.name} deliveries` : 'All centers’ deliveries'}</h2>
        <DeliveryList rows={visible} />
        <p className="list-foot" data-testid="row-total">
          {visible.length} of {Object.values(counts).reduce((a, b) => a + b, 0)} deliveries
        </p>
      </main>
    </div>
  );
}
