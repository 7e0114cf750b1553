import type { Socket } from 'socket.io-client';
import {
  DELIVERY_EVENTS,
  rowsToRepair,
  type DeliveryRow,
  type DeliverySnapshot,
  type DeliverySyncResponse,
  type DispatchClientEvents,
  type DispatchServerEvents,
  type RowStore,
} from '@/protocol';
import { request } from './socket';

/**
 * Keeps a client's delivery rows equal to the database, over a network that loses things.
 * Framework-free: the dashboard runs it in the browser, the chaos test runs the same code in Node.
 *
 * Layers, each counted in `repaired`:
 * 1. recovery: Socket.IO connection state recovery replays what a short drop missed;
 * 2. resync:   a reconnect that did not recover asks, per center, for rows changed since its
 *              watermark: the `asOf` of the last full load or resync answer (never a value taken
 *              from live events or from any clock; see protocol/merge.ts);
 * 3. snapshot: the server's periodic digest; rows that differ are fetched;
 * 4. polling:  while the socket is down for more than `pollAfterMs`, the REST delta endpoint is
 *              polled every `pollEveryMs`, until the socket is back (then a resync).
 * Every source goes through the same merge rule, so repeats and stale rows are harmless.
 */
export type DispatchClientSocket = Socket<DispatchServerEvents, DispatchClientEvents>;
export type LinkState = 'connecting' | 'live' | 'polling' | 'offline';
export type RepairLayer = 'recovery' | 'resync' | 'snapshot' | 'polling';
export type ReconnectOutcome = 'recovered' | 'resynced';

export interface SyncStatus {
  link: LinkState;
  /** When the last event or repair changed a row (ms since epoch). */
  lastChangeAt: number | null;
  lastReconnect: { outcome: ReconnectOutcome; at: number; rows: number } | null;
  /** Rows each layer replaced (events lost on the way and repaired). */
  repaired: Record<RepairLayer, number>;
  /** Last error of a join, sync or poll, for the screen. */
  error: string | null;
}

export interface DeliverySyncOptions {
  socket: DispatchClientSocket;
  store: RowStore;
  /** The center ids to follow and whether to use HQ's all-centers room. */
  centers: { ids: number[]; all: boolean };
  /** REST delta for polling: GET /api/centers/:id/deliveries[?sinceTx=]. */
  fetchDelta: (centerId: number, sinceTx: number | undefined) => Promise<DeliverySyncResponse>;
  onStatus?: (status: SyncStatus) => void;
  /** Batches incoming events (the browser passes requestAnimationFrame); default: at once. */
  schedule?: (flush: () => void) => void;
  pollAfterMs?: number;
  pollEveryMs?: number;
  ackTimeoutMs?: number;
}

/** A resync hint is answered after a random wait of up to this, so a cluster's clients spread out. */
const RESYNC_HINT_SPREAD_MS = 2000;

export function createDeliverySync(opts: DeliverySyncOptions) {
  const { socket, store } = opts;
  const pollAfterMs = opts.pollAfterMs ?? 3000;
  const pollEveryMs = opts.pollEveryMs ?? 5000;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
  const status: SyncStatus = {
    link: socket.connected ? 'live' : 'connecting',
    lastChangeAt: null,
    lastReconnect: null,
    repaired: { recovery: 0, resync: 0, snapshot: 0, polling: 0 },
    error: null,
  };
  /**
   * Per center whose full list has been loaded: the watermark a resync starts from, the `asOf` of
   * the last answer applied. A center absent here gets its full list.
   */
  const watermarks = new Map<number, number>();
  const allLoaded = () => opts.centers.ids.every((id) => watermarks.has(id));
  let connectSeen = socket.connected;
  let stopped = false;
  let pollStart: ReturnType<typeof setTimeout> | undefined;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped whenever polling stops, so a poll in flight cannot reschedule a stale loop. */
  let pollGeneration = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let recoveryAtDisconnect = 0;
  let queue: { row: DeliveryRow; recovery: boolean }[] = [];
  let flushPending = false;

  const emitStatus = () => opts.onStatus?.({ ...status, repaired: { ...status.repaired } });

  function applyRows(rows: readonly DeliveryRow[], layer: RepairLayer | null): number {
    if (rows.length === 0) return 0;
    const applied = store.apply(rows);
    if (applied > 0) {
      status.lastChangeAt = Date.now();
      if (layer) status.repaired[layer] += applied;
      emitStatus();
    }
    return applied;
  }

  const ask = <E extends keyof DispatchClientEvents>(event: E, payload: unknown) => request(socket, event, payload, ackTimeoutMs);

  function flush() {
    flushPending = false;
    const batch = queue;
    queue = [];
    const replayed = batch.filter((e) => e.recovery).map((e) => e.row);
    const live = batch.filter((e) => !e.recovery).map((e) => e.row);
    // Everything that arrived since the last frame is one store update (and one render).
    const apply = () => {
      applyRows(replayed, 'recovery');
      applyRows(live, null);
    };
    if (store.batch) store.batch(apply);
    else apply();
  }

  function onRow(row: DeliveryRow) {
    // Only followed centers' rows are held: an event of a center just left (sent before the
    // server took the leave) must not land in the next center's board.
    if (!opts.centers.ids.includes(row.centerId)) return;
    // Replayed packets of a recovered session arrive after the session is restored but before
    // the 'connect' event fires: that is how they are told apart from live events.
    queue.push({ row, recovery: socket.recovered && !connectSeen });
    if (flushPending) return;
    flushPending = true;
    if (opts.schedule) opts.schedule(flush);
    else flush();
  }

  async function onSnapshot(snap: DeliverySnapshot) {
    if (snap.riderId !== undefined || !opts.centers.ids.includes(snap.centerId)) return; // not a followed center's digest
    const inCenter = [...store.values()].filter((r) => r.centerId === snap.centerId);
    const need = rowsToRepair(snap, (seq) => store.get(seq), inCenter);
    for (let i = 0; i < need.length; i += 500) {
      try {
        const rows = await ask('deliveries:fetch', { centerId: snap.centerId, seqs: need.slice(i, i + 500) });
        applyRows(rows, 'snapshot');
      } catch (err) {
        status.error = (err as Error).message;
        emitStatus();
        return;
      }
    }
  }

  /**
   * Join the rooms and bring every followed center up to date: a center not loaded yet gets its
   * full list (even if live events for it already arrived), a loaded one only what changed since
   * its watermark.
   */
  async function joinAndSync(layer: RepairLayer | null): Promise<number> {
    if (opts.centers.all) await ask('center:join', { all: true });
    else for (const centerId of opts.centers.ids) await ask('center:join', { centerId });
    let applied = 0;
    for (const centerId of opts.centers.ids) {
      const sinceTx = watermarks.get(centerId);
      const res = await ask('deliveries:sync', sinceTx !== undefined ? { centerId, sinceTx } : { centerId });
      applied += applyRows(res.rows, sinceTx !== undefined ? layer : null);
      advance(centerId, res.asOf);
    }
    return applied;
  }

  /** Move a center's watermark to an answer's `asOf` (never backwards: answers may overtake). */
  function advance(centerId: number, asOf: number) {
    const held = watermarks.get(centerId);
    if (held === undefined || asOf > held) watermarks.set(centerId, asOf);
  }

  function stopPolling() {
    pollGeneration += 1;
    if (pollStart) clearTimeout(pollStart);
    if (pollTimer) clearTimeout(pollTimer);
    pollStart = pollTimer = undefined;
  }

  async function pollOnce() {
    for (const centerId of opts.centers.ids) {
      if (socket.connected || stopped) return;
      const sinceTx = watermarks.get(centerId);
      const res = await opts.fetchDelta(centerId, sinceTx);
      if (socket.connected || stopped) return; // the socket's resync takes over
      applyRows(res.rows, sinceTx !== undefined ? 'polling' : null);
      advance(centerId, res.asOf);
    }
  }

  function schedulePoll(delay: number) {
    const generation = pollGeneration;
    pollTimer = setTimeout(() => {
      pollOnce()
        .then(() => {
          if (status.error) {
            status.error = null;
            emitStatus();
          }
        })
        .catch((err: unknown) => {
          status.error = `Polling failed: ${(err as Error).message}`;
          emitStatus();
        })
        .finally(() => {
          if (generation === pollGeneration && !socket.connected && !stopped) schedulePoll(pollEveryMs);
        });
    }, delay);
  }

  /** Join and sync; on failure (a timeout under load, say) try again while still connected. */
  function syncNow(reconnect: boolean, attempt = 0) {
    if (retryTimer) clearTimeout(retryTimer);
    joinAndSync(reconnect ? 'resync' : null).then(
      (rows) => {
        if (reconnect) status.lastReconnect = { outcome: 'resynced', at: Date.now(), rows };
        status.error = null;
        emitStatus();
      },
      (err: unknown) => {
        status.error = (err as Error).message;
        emitStatus();
        if (socket.connected && !stopped) retryTimer = setTimeout(() => syncNow(reconnect, attempt + 1), Math.min(1000 * 2 ** attempt, 15_000));
      },
    );
  }

  function onConnect() {
    connectSeen = true;
    stopPolling();
    status.link = 'live';
    // A recovered session got every missed packet replayed (counted as they arrived) and kept its
    // rooms; nothing to ask for, unless a center's first load never finished.
    if (socket.recovered && allLoaded()) {
      status.lastReconnect = { outcome: 'recovered', at: Date.now(), rows: status.repaired.recovery - recoveryAtDisconnect };
      status.error = null;
      emitStatus();
      return;
    }
    const reconnect = watermarks.size > 0;
    emitStatus();
    syncNow(reconnect);
  }

  function onDisconnect() {
    connectSeen = false;
    recoveryAtDisconnect = status.repaired.recovery;
    if (retryTimer) clearTimeout(retryTimer);
    status.link = 'offline';
    emitStatus();
    stopPolling();
    if (stopped) return;
    pollStart = setTimeout(() => {
      if (socket.connected || stopped) return;
      status.link = 'polling';
      emitStatus();
      schedulePoll(0);
    }, pollAfterMs);
  }

  const onSnapshotEvent = (s: DeliverySnapshot) => void onSnapshot(s);
  /** The server says live events may have been lost between nodes: resync, once, after a random wait. */
  let hintTimer: ReturnType<typeof setTimeout> | undefined;
  const onResyncHint = () => {
    if (hintTimer || stopped) return;
    hintTimer = setTimeout(() => {
      hintTimer = undefined;
      if (socket.connected && !stopped && watermarks.size > 0) syncNow(true);
    }, Math.random() * RESYNC_HINT_SPREAD_MS);
  };

  for (const e of DELIVERY_EVENTS) socket.on(e, onRow);
  socket.on('deliveries:snapshot', onSnapshotEvent);
  socket.on('deliveries:resync_hint', onResyncHint);
  socket.on('connect', onConnect);
  socket.on('disconnect', onDisconnect);
  if (socket.connected) onConnect();

  return {
    status: () => ({ ...status, repaired: { ...status.repaired } }),
    /** A center's watermark (the `asOf` a resync would start from), if loaded. */
    watermark: (centerId: number) => watermarks.get(centerId),
    /** Bring everything up to date now (used after switching centers, and by tests). */
    resync: () => joinAndSync('resync'),
    stop() {
      stopped = true;
      stopPolling();
      if (retryTimer) clearTimeout(retryTimer);
      for (const e of DELIVERY_EVENTS) socket.off(e, onRow);
      socket.off('deliveries:snapshot', onSnapshotEvent);
      socket.off('deliveries:resync_hint', onResyncHint);
      if (hintTimer) clearTimeout(hintTimer);
      socket.off('connect', onConnect);
      socket.off('disconnect', onDisconnect);
    },
  };
}
export type DeliverySync = ReturnType<typeof createDeliverySync>;
