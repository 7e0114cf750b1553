'use client';
import { useEffect, useMemo, useRef, useState } from 'react';
import { DELIVERY_EVENTS, countByStatus, type Center, type DeliveryRow, type DeliveryStatus } from '@/protocol';
import { logout, useSession } from '../lib/session';
import { connectDispatch, request } from '../lib/socket';
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

/** The dispatcher's live board for one center. */
export function Dashboard() {
  const store = useDeliveriesStoreApi();
  const user = useSession();
  const [centers, setCenters] = useState<Center[]>([]);
  const [centerId, setCenterId] = useState<Selection | null>(null);
  const [filter, setFilter] = useState<DeliveryStatus | 'all'>('all');
  const [error, setError] = useState<string | null>(null);
  const socketRef = useRef<ReturnType<typeof connectDispatch> | null>(null);
  const centersRef = useRef<Center[]>([]);
  centersRef.current = centers;

  // One socket for the page's life; events are batched per animation frame and merged at once.
  useEffect(() => {
    if (!user) return;
    const socket = connectDispatch();
    socketRef.current = socket;
    let queue: DeliveryRow[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = queue;
      queue = [];
      store.getState().apply(batch);
    };
    const onRow = (row: DeliveryRow) => {
      queue.push(row);
      if (!frame) frame = requestAnimationFrame(flush);
    };
    for (const e of DELIVERY_EVENTS) socket.on(e, onRow);
    socket.on('connect', () => {
      store.getState().setConnection('live');
      request(socket, 'centers:list', {})
        .then((list) => {
          setCenters(list);
          setCenterId((cur) => cur ?? readCenterFromUrl() ?? list[0]?.id ?? null);
        })
        .catch((e: Error) => setError(e.message));
    });
    socket.on('disconnect', () => store.getState().setConnection('offline'));
    socket.on('connect_error', (err) => {
      store.getState().setConnection('offline');
      if (err.message === 'unauthorized') window.location.replace('/login');
    });
    socket.io.on('reconnect_attempt', () => store.getState().setConnection('connecting'));
    return () => {
      if (frame) cancelAnimationFrame(frame);
      socket.disconnect();
      socketRef.current = null;
    };
  }, [store, user]);

  // Join the chosen center and load its list; on every reconnect, resync from the watermark.
  useEffect(() => {
    const socket = socketRef.current;
    if (!socket || centerId === null) return;
    let cancelled = false;
    const room = centerId === 'all' ? { all: true as const } : { centerId };
    const join = async () => {
      try {
        await request(socket, 'center:join', room);
        const since = store.getState().watermark();
        const ids = centerId === 'all' ? centersRef.current.map((c) => c.id) : [centerId];
        for (const id of ids) {
          const res = await request(socket, 'deliveries:sync', since ? { centerId: id, since } : { centerId: id });
          if (cancelled) return;
          store.getState().apply(res.rows);
        }
        setError(null);
      } catch (e) {
        if (!cancelled) setError((e as Error).message);
      }
    };
    if (socket.connected) void join();
    socket.on('connect', join);
    return () => {
      cancelled = true;
      socket.off('connect', join);
      if (socket.connected) void request(socket, 'center:leave', room).catch(() => undefined);
      store.getState().reset();
    };
  }, [centerId, store]);

  const revision = useDeliveries((s) => s.revision);
  const { visible, counts } = useMemo(() => {
    const all = [...store.getState().rows.values()].filter((r) => centerId === 'all' || r.centerId === centerId);
    all.sort((a, b) => b.deliverySeq - a.deliverySeq);
    return { visible: filter === 'all' ? all : all.filter((r) => r.status === filter), counts: countByStatus(all) };
    // revision stands for the rows map, which is mutated in place by the merge.
  }, [revision, centerId, filter, store]);

  const center = centers.find((c) => c.id === centerId);
  const everyCenter = user?.role === 'hq' || user?.role === 'admin';
  return (
    <div className="shell">
      <header className="topbar">
        <h1>Dispatch Desk</h1>
        <label className="center-select">
          <span className="sr-only">Center</span>
          <select
            data-testid="center-select"
            value={centerId ?? ''}
            onChange={(e) => {
              const id: Selection = e.target.value === 'all' ? 'all' : Number(e.target.value);
              setCenterId(id);
              const url = new URL(window.location.href);
              url.searchParams.set('center', String(id));
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
        <h2 className="sr-only">{center ? `${center.name} deliveries` : 'Deliveries'}</h2>
        <DeliveryList rows={visible} />
        <p className="list-foot" data-testid="row-total">
          {visible.length} of {Object.values(counts).reduce((a, b) => a + b, 0)} deliveries
        </p>
      </main>
    </div>
  );
}
