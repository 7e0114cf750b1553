'use client';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useStore } from 'zustand';
import {
  isLate,
  LIST_WINDOW_HOURS,
  type Center,
  type ClientSettings,
  type DeliverySyncResponse,
  type RiderPosition,
  type RiderRow,
} from '@/protocol';
import { activeRows, lateCutoffMs, visibleRows, type StatusFilter } from '../lib/board';
import { createDeliverySync } from '../lib/delivery-sync';
import { getJson } from '../lib/http';
import { createPresenceStore, followPresence, startHeartbeat } from '../lib/presence';
import { createRidersStore } from '../lib/riders-store';
import { useSession } from '../lib/session';
import { connectDispatch, request, useSocketLifetime, type DispatchSocket } from '../lib/socket';
import { useDeliveries, useDeliveriesStoreApi } from '../lib/store-context';
import { AssignDialog } from './AssignDialog';
import { CenterMap } from './CenterMap';
import { ChatPanel } from './ChatPanel';
import { ConnectionBadge } from './ConnectionBadge';
import { DeliveryDetail } from './DeliveryDetail';
import { DeliveryList } from './DeliveryList';
import { useOfflineShops } from '../lib/use-offline-shops';
import { RiderPanel } from './RiderPanel';
import { StatusCounters, STATUS_LABEL } from './StatusCounters';
import { UserChip } from './UserChip';

type Selection = number | 'all';
type Tab = 'detail' | 'riders' | 'chat';

/** `?list=all`: the list renders every row (a diagnostic mode the live-list benchmark measures). */
function readRenderAll(): boolean {
  return new URLSearchParams(window.location.search).get('list') === 'all';
}

function readCenterFromUrl(): Selection | null {
  const raw = new URLSearchParams(window.location.search).get('center');
  if (raw === 'all') return 'all';
  const v = Number(raw);
  return Number.isInteger(v) && v > 0 ? v : null;
}

const isTyping = (el: EventTarget | null) =>
  el instanceof HTMLElement && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);

/** The dispatcher's (and HQ's) live board. */
export function Dashboard() {
  const store = useDeliveriesStoreApi();
  const user = useSession();
  const [ridersStore] = useState(createRidersStore);
  const [presenceStore] = useState(createPresenceStore);
  const [centers, setCenters] = useState<Center[]>([]);
  const [settings, setSettings] = useState<ClientSettings>({ lateAfterMinutes: 30, snapshotIntervalMs: 120_000 });
  const [selection, setSelection] = useState<Selection | null>(null);
  const [filter, setFilter] = useState<StatusFilter>('all');
  const [query, setQuery] = useState('');
  const [selectedSeq, setSelectedSeq] = useState<number | null>(null);
  const [assigning, setAssigning] = useState<number | null>(null);
  const [tab, setTab] = useState<Tab>('detail');
  // One socket for the signed-in user, open while the board is mounted.
  const socket: DispatchSocket | null = useMemo(() => (user ? connectDispatch() : null), [user]);
  useSocketLifetime(socket);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [renderAll] = useState(() => typeof window !== 'undefined' && readRenderAll());
  const searchRef = useRef<HTMLInputElement>(null);
  const syncError = useDeliveries((s) => s.sync.error);

  useEffect(() => {
    const t = setInterval(() => {
      const at = Date.now();
      // Rows that left the day's window are dropped, so a tab open for days stays bounded.
      store.getState().prune(at - LIST_WINDOW_HOURS * 3_600_000);
      setNow(at);
    }, 30_000);
    return () => clearInterval(t);
  }, [store]);

  // The centers this user may see; a refused session goes back to sign-in.
  useEffect(() => {
    if (!user || !socket) return;
    getJson<ClientSettings>('/api/settings').then(setSettings, () => undefined);
    getJson<Center[]>('/api/centers')
      .then((list) => {
        setCenters(list);
        setSelection(readCenterFromUrl() ?? list[0]?.id ?? null);
      })
      .catch((e: Error) => setLoadError(e.message));
    const onConnectError = (err: Error) => {
      if (err.message === 'unauthorized') window.location.replace('/login');
    };
    // The server ends sockets on purpose when the session ends or the user's rights change:
    // connect again, to be authorized afresh (or sent to the login page).
    const onDisconnect = (reason: string) => {
      if (reason === 'io server disconnect') socket.connect();
    };
    socket.on('connect_error', onConnectError);
    socket.on('disconnect', onDisconnect);
    return () => {
      socket.off('connect_error', onConnectError);
      socket.off('disconnect', onDisconnect);
    };
  }, [user, socket]);

  // Follow the chosen center (or all of them): deliveries with every repair layer, and riders.
  useEffect(() => {
    if (!socket || selection === null || centers.length === 0) return;
    const ids = selection === 'all' ? centers.map((c) => c.id) : [selection];
    const sync = createDeliverySync({
      socket,
      store: store.getState().rowStore,
      centers: { ids, all: selection === 'all' },
      fetchDelta: (centerId, sinceTx) =>
        getJson<DeliverySyncResponse>(`/api/centers/${centerId}/deliveries${sinceTx !== undefined ? `?sinceTx=${sinceTx}` : ''}`),
      onStatus: (status) => store.getState().setSync(status),
      schedule: (flush) => requestAnimationFrame(flush),
    });
    const riders = ridersStore.getState();
    const loadRiders = () => {
      for (const centerId of ids) {
        request(socket, 'riders:list', { centerId }).then((rows) => riders.apply(rows), () => undefined);
      }
    };
    const onStatus = (row: RiderRow) => ids.includes(row.centerId) && riders.apply([row]);
    const onPosition = (pos: RiderPosition) => riders.position(pos);
    socket.on('rider:status', onStatus);
    socket.on('rider:position', onPosition);
    socket.on('connect', loadRiders);
    if (socket.connected) loadRiders();
    return () => {
      sync.stop();
      socket.off('rider:status', onStatus);
      socket.off('rider:position', onPosition);
      socket.off('connect', loadRiders);
      if (socket.connected) socket.emit('center:leave', selection === 'all' ? { all: true } : { centerId: selection }, () => undefined);
      store.getState().reset();
      riders.reset();
    };
  }, [socket, selection, centers, store, ridersStore]);

  const watchedCenters = useMemo(() => (selection === null ? [] : selection === 'all' ? centers.map((c) => c.id) : [selection]), [selection, centers]);
  const offlineShops = useOfflineShops(socket, watchedCenters);
  // Presence: who of the followed centers is online (riders: online / silent / offline).
  useEffect(() => {
    if (!socket || selection === null || centers.length === 0) return;
    return followPresence(socket, presenceStore, selection === 'all' ? centers.map((c) => c.id) : [selection]);
  }, [socket, selection, centers, presenceStore]);
  // Heartbeat: device facts and the sync engine's repair counts for the followed center.
  const selectionRef = useRef(selection);
  useEffect(() => {
    selectionRef.current = selection;
  }, [selection]);
  useEffect(() => {
    if (!socket) return;
    return startHeartbeat(socket, () => {
      const sel = selectionRef.current;
      return typeof sel === 'number' ? { centerId: sel, repaired: store.getState().sync.repaired } : {};
    });
  }, [socket, store]);
  const presenceView = useStore(presenceStore, (s) => s.view);
  const presenceOf = useCallback((riderId: number) => presenceView.riders.get(riderId) ?? 'offline', [presenceView]);

  const rowsView = useDeliveries((s) => s.view);
  const ridersView = useStore(ridersStore, (s) => s.view);

  // Tallies come from the store, kept change by change; the list is the store's order unless a
  // filter or search is on, so a frame with changes does not walk 10,000 rows.
  const { counts, lateCount, loadByRider } = rowsView;
  const visible = useMemo(
    () => visibleRows(rowsView, { selection, filter, query, nowMs: now, lateAfterMinutes: settings.lateAfterMinutes }),
    [rowsView, selection, filter, query, now, settings.lateAfterMinutes],
  );
  const lateBefore = lateCutoffMs(now, settings.lateAfterMinutes);
  useEffect(() => store.getState().setLateBefore(lateBefore), [store, lateBefore]);
  // The map's markers are derived only while the riders tab shows the map.
  const mapRows = useMemo(() => (tab === 'riders' ? activeRows(rowsView) : []), [tab, rowsView]);

  const riderList = useMemo(() => {
    const list = [...ridersView.riders.values()].filter((r) => selection === 'all' || r.centerId === selection);
    const order = { idle: 0, busy: 1, off: 2 } as const;
    return list.sort((a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name));
  }, [ridersView, selection]);

  const loadOf = useCallback((id: number) => loadByRider.get(id) ?? 0, [loadByRider]);
  const positionOf = useCallback(
    (r: RiderRow) => {
      const live = ridersView.positions.get(r.id);
      if (live) return live;
      return r.lat !== null && r.lng !== null ? { lat: r.lat, lng: r.lng } : null;
    },
    [ridersView],
  );

  const selected = selectedSeq === null ? undefined : rowsView.rows.get(selectedSeq);
  const assignRow = assigning === null ? undefined : rowsView.rows.get(assigning);

  // Keyboard: / search, arrows or j/k move, A assigns, Esc clears.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (assigning !== null || e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === '/' && !isTyping(e.target)) {
        e.preventDefault();
        searchRef.current?.focus();
        return;
      }
      if (isTyping(e.target)) {
        if (e.key === 'Escape') (e.target as HTMLElement).blur();
        return;
      }
      const i = selectedSeq === null ? -1 : visible.indexOf(selectedSeq);
      if (e.key === 'ArrowDown' || e.key === 'j') setSelectedSeq(visible.at(Math.min(i + 1, visible.length - 1))?.deliverySeq ?? null);
      else if (e.key === 'ArrowUp' || e.key === 'k') setSelectedSeq(visible.at(Math.max(i - 1, 0))?.deliverySeq ?? null);
      else if ((e.key === 'a' || e.key === 'A') && selected && (selected.status === 'waiting' || selected.status === 'assigned')) setAssigning(selected.deliverySeq);
      else if (e.key === 'Escape') setSelectedSeq(null);
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [assigning, selectedSeq, visible, selected]);

  const onSelect = useCallback((seq: number) => {
    setSelectedSeq(seq);
    setTab('detail');
  }, []);
  const onAssign = useCallback((seq: number) => {
    setSelectedSeq(seq);
    setAssigning(seq);
  }, []);

  const everyCenter = user?.role === 'hq' || user?.role === 'admin';
  const center = centers.find((c) => c.id === selection);
  const error = loadError ?? syncError;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
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
              setSelectedSeq(null);
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
        {user?.role === 'admin' && (
          <a className="topbar-link" href="/monitor" data-testid="monitor-link">
            Monitor
          </a>
        )}
        {user && <UserChip user={user} />}
      </header>
      {error && (
        <p className="error" role="alert" data-testid="error">
          {error}
        </p>
      )}
      <section className="toolbar" aria-label="Filters">
        <StatusCounters counts={counts} />
        <div className="filters" role="group" aria-label="Show">
          {(['all', 'waiting', 'assigned', 'picked_up', 'delivered', 'cancelled', 'late'] as const).map((f) => (
            <button
              key={f}
              type="button"
              className={`chip${filter === f ? ' active' : ''}${f === 'late' ? ' chip-late' : ''}`}
              aria-pressed={filter === f}
              data-testid={`filter-${f}`}
              onClick={() => setFilter(f)}
            >
              {f === 'all' ? 'All' : f === 'late' ? `Late (${lateCount})` : STATUS_LABEL[f]}
            </button>
          ))}
        </div>
        <input
          ref={searchRef}
          className="search"
          type="search"
          placeholder="Search order, shop or rider  ( / )"
          aria-label="Search by order, shop or rider"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          data-testid="search"
        />
      </section>
      <div className="workspace">
        <main className="main">
          <h2 className="sr-only">{center ? `${center.name} deliveries` : 'All centers’ deliveries'}</h2>
          <DeliveryList rows={visible} selectedSeq={selectedSeq} lateAfterMinutes={settings.lateAfterMinutes} now={now} offlineShops={offlineShops} onSelect={onSelect} onAssign={onAssign} renderAll={renderAll} />
          <p className="list-foot" data-testid="row-total">
            {visible.length} of {total} deliveries · late after {settings.lateAfterMinutes} min
          </p>
        </main>
        <aside className="side" aria-label="Details">
          <div className="tabs" role="tablist">
            {(['detail', 'riders', 'chat'] as const).map((t) => (
              <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'tab active' : 'tab'} data-testid={`tab-${t}`} onClick={() => setTab(t)}>
                {t === 'detail' ? 'Delivery' : t === 'riders' ? `Riders (${riderList.length})` : 'Chat'}
              </button>
            ))}
          </div>
          {tab === 'detail' &&
            (selected ? (
              <DeliveryDetail row={selected} socket={socket} late={isLate(selected, now, settings.lateAfterMinutes)} onAssign={() => setAssigning(selected.deliverySeq)} />
            ) : (
              <p className="muted side-empty">Select a delivery (click, or ↑ ↓) to see its timeline. Press A to assign.</p>
            ))}
          {tab === 'chat' &&
            (typeof selection === 'number' ? (
              <div className="chat-tab">
                <ChatPanel key={selection} centerId={selection} />
              </div>
            ) : (
              <p className="muted side-empty">Choose one center to use its chat.</p>
            ))}
          {tab === 'riders' && (
            <div className="riders-tab">
              <CenterMap deliveries={mapRows} riders={riderList} positionOf={positionOf} selectedSeq={selectedSeq} presenceOf={presenceOf} />
              <RiderPanel riders={riderList} loadOf={loadOf} positions={ridersView.positions} now={now} presenceOf={presenceOf} />
            </div>
          )}
        </aside>
      </div>
      {assignRow && socket && (
        <AssignDialog
          delivery={assignRow}
          riders={riderList.filter((r) => r.centerId === assignRow.centerId)}
          loadOf={loadOf}
          positionOf={positionOf}
          socket={socket}
          onClose={() => setAssigning(null)}
          onAssigned={(row) => store.getState().rowStore.apply([row])}
        />
      )}
    </div>
  );
}
