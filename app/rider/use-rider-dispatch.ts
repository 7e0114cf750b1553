'use client';
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import {
  isCarried,
  rowsToRepair,
  type DeliverySnapshot,
  createRowStore,
  DELIVERY_EVENTS,
  deliveryRowSchema,
  ERROR_CODES,
  type DeliveryRow,
  type ErrorCode,
  type SessionUser,
} from '@/protocol';
import {
  ACTION_COMMAND,
  createActionQueue,
  createDrainer,
  newIdempotencyKey,
  type ActionQueue,
  type QueuedAction,
  type RiderActionKind,
  type SendOutcome,
} from '../lib/action-queue';
import { connectDispatch, request, useSocketLifetime, type DispatchSocket } from '../lib/socket';

/** How the rider's link to the server is, as shown on screen. */
export type RiderLink = 'connecting' | 'live' | 'reconnecting' | 'offline';
export type ActionPhase = 'pending' | 'queued' | 'confirmed' | 'error';

/** The last thing that happened to one action (tap) of the rider. */
export interface ActionView {
  idempotencyKey: string;
  kind: RiderActionKind;
  deliverySeq: number;
  phase: ActionPhase;
  /** The server's message when it refused the action. */
  message: string | null;
  code: ErrorCode | null;
  at: number;
}

/** An action waits this long for its ack before it counts as not delivered (then it is queued). */
export const ACTION_ACK_TIMEOUT_MS = 8_000;
/** While actions wait and the socket is up (an ack timed out), try again this often. */
const RETRY_EVERY_MS = 5_000;

const EMPTY_QUEUE: readonly QueuedAction[] = [];
const isErrorCode = (v: unknown): v is ErrorCode => typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v);

function browserStorage(): Storage | null {
  try {
    return typeof window === 'undefined' ? null : window.localStorage;
  } catch {
    return null;
  }
}

export function queueStorageKey(userId: number): string {
  return `dd.rider.actions.${userId}`;
}
/** The rider's last known rows, so a reload in a dead zone still shows where to go. */
export function rowsStorageKey(userId: number): string {
  return `dd.rider.rows.${userId}`;
}
const MAX_CACHED_ROWS = 200;

function readCachedRows(key: string): DeliveryRow[] {
  try {
    const raw = browserStorage()?.getItem(key);
    const data: unknown = raw ? JSON.parse(raw) : [];
    if (!Array.isArray(data)) return [];
    return data.flatMap((item: unknown) => {
      const parsed = deliveryRowSchema.safeParse(item);
      return parsed.success ? [parsed.data] : [];
    });
  } catch {
    return [];
  }
}

/** Forget what this phone keeps for a user (signing out). */
export function clearRiderStorage(userId: number): void {
  const storage = browserStorage();
  try {
    storage?.removeItem(rowsStorageKey(userId));
    storage?.removeItem(queueStorageKey(userId));
  } catch {
    // nothing kept, or storage blocked
  }
}

const isOpen = (s: { connected: boolean }) => s.connected;

/** The row a refused command carries in `details.current`, if any. */
function currentRowOf(details: unknown): DeliveryRow | null {
  if (!details || typeof details !== 'object' || !('current' in details)) return null;
  const parsed = deliveryRowSchema.safeParse(details.current);
  return parsed.success ? parsed.data : null;
}

/**
 * The rider's live deliveries and actions over the /dispatch socket:
 * - rows arrive as `delivery:*` events (private room) and from `deliveries:mine` on every
 *   (re)connect, all through the shared merge rule;
 * - every action goes through the persisted offline queue and is sent in order with its
 *   idempotency key while the socket is up.
 */
export function useRiderDispatch(user: SessionUser) {
  const riderId = user.riderId;
  const store = useMemo(() => {
    const s = createRowStore();
    s.apply(readCachedRows(rowsStorageKey(user.id)));
    return s;
  }, [user.id]);
  const [revision, setRevision] = useState(0);
  const bump = useCallback(() => setRevision((r) => r + 1), []);
  // One socket for the screen's life: created closed, opened while mounted (useSocketLifetime).
  const socket: DispatchSocket = useMemo(() => connectDispatch(), []);
  const [link, setLink] = useState<RiderLink>(() => (typeof navigator !== 'undefined' && !navigator.onLine ? 'offline' : 'connecting'));
  const [views, setViews] = useState<Record<string, ActionView>>({});
  const [loadError, setLoadError] = useState<string | null>(null);

  const queue: ActionQueue = useMemo(() => createActionQueue({ storage: browserStorage(), storageKey: queueStorageKey(user.id) }), [user.id]);
  const queued = useSyncExternalStore(queue.subscribe, queue.list, () => EMPTY_QUEUE);


  const setView = useCallback((a: Pick<QueuedAction, 'idempotencyKey' | 'kind' | 'deliverySeq'>, phase: ActionPhase, error?: { code: ErrorCode; message: string }) => {
    setViews((v) => ({
      ...v,
      [a.idempotencyKey]: {
        idempotencyKey: a.idempotencyKey,
        kind: a.kind,
        deliverySeq: a.deliverySeq,
        phase,
        message: error?.message ?? null,
        code: error?.code ?? null,
        at: Date.now(),
      },
    }));
  }, []);

  const apply = useCallback(
    (rows: readonly DeliveryRow[]) => {
      if (store.apply(rows) > 0) bump();
    },
    [store, bump],
  );

  /** The rider's rows from the server; held active rows it no longer lists were reassigned away. */
  const loadMine = useCallback(async () => {
    const s = socket;
    if (!s.connected) return;
    try {
      const rows = await request(s, 'deliveries:mine', {}, 10_000);
      apply(rows);
      setLoadError(null);
      const listed = new Set(rows.map((r) => r.deliverySeq));
      const missing = [...store.values()].filter(
        (r) => r.riderId === riderId && isCarried(r.status) && !listed.has(r.deliverySeq),
      );
      for (const r of missing) {
        // An event may have made it ours after the list was read: ask before dropping it.
        try {
          await request(s, 'delivery:timeline', { deliverySeq: r.deliverySeq }, 10_000);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'forbidden' || (err as { code?: unknown }).code === 'not_found') {
            store.rows.delete(r.deliverySeq);
            bump();
          }
        }
      }
    } catch (err) {
      setLoadError(`Could not load your deliveries: ${(err as Error).message}`);
    }
  }, [apply, bump, riderId, store, socket]);

  const send = useCallback(async (a: QueuedAction): Promise<SendOutcome<DeliveryRow>> => {
    const s = socket;
    if (!s.connected) return { type: 'unreachable', reason: 'offline' };
    try {
      const row = await request(s, ACTION_COMMAND[a.kind], { deliverySeq: a.deliverySeq, idempotencyKey: a.idempotencyKey }, ACTION_ACK_TIMEOUT_MS);
      return { type: 'ok', row };
    } catch (err) {
      const e = err as Error & { code?: unknown; details?: unknown };
      // An ack error carries a code; a timeout or a dropped socket does not.
      if (isErrorCode(e.code)) return { type: 'rejected', error: { code: e.code, message: e.message, details: e.details } };
      return { type: 'unreachable', reason: e.message };
    }
  }, [socket]);

  const drain = useMemo(
    () =>
      createDrainer<DeliveryRow>(queue, send, {
        canSend: () => isOpen(socket),
        onSending: (a) => setView(a, 'pending'),
        onResult: (a, outcome) => {
          if (outcome.type === 'ok') {
            apply([outcome.row]);
            setView(a, 'confirmed');
          } else if (outcome.type === 'rejected') {
            const current = currentRowOf(outcome.error.details);
            if (current) apply([current]);
            setView(a, 'error', outcome.error);
            void loadMine();
          } else {
            setView(a, 'queued');
          }
        },
      }),
    [queue, send, setView, apply, loadMine, socket],
  );

  // The socket's events, registered before it opens.
  useEffect(() => {
    const s = socket;
    const onRow = (row: DeliveryRow) => apply([row]);
    for (const e of DELIVERY_EVENTS) s.on(e, onRow);
    // The periodic digest of this rider's deliveries: if anything differs (an event was lost on
    // the way), reload the rider's list.
    const onSnapshot = (snap: DeliverySnapshot) => {
      if (snap.riderId !== riderId) return;
      const mine = [...store.values()].filter((r) => r.riderId === riderId && r.centerId === snap.centerId);
      if (rowsToRepair(snap, (seq) => store.get(seq), mine).length > 0) void loadMine();
    };
    s.on('deliveries:snapshot', onSnapshot);
    const onConnect = () => {
      setLink('live');
      void loadMine();
      void drain();
    };
    const onDisconnect = (reason: string) => {
      setLink(navigator.onLine ? 'reconnecting' : 'offline');
      // The server closed us on purpose (e.g. a deploy): Socket.IO does not retry that by itself.
      if (reason === 'io server disconnect') s.connect();
    };
    const onConnectError = (err: Error) => {
      if (err.message === 'unauthorized') {
        window.location.replace(`/login?next=${encodeURIComponent('/rider')}`);
        return;
      }
      setLink(navigator.onLine ? 'reconnecting' : 'offline');
    };
    s.on('connect', onConnect);
    s.on('disconnect', onDisconnect);
    s.on('connect_error', onConnectError);
    // Attempts that fail below Socket.IO (a line that drops at once) only show on the manager.
    const onAttempt = () => {
      if (!s.connected) setLink(navigator.onLine ? 'reconnecting' : 'offline');
    };
    s.io.on('reconnect_attempt', onAttempt);
    const onOffline = () => {
      if (!s.connected) setLink('offline');
    };
    const onOnline = () => {
      if (!s.connected) setLink('reconnecting');
    };
    window.addEventListener('offline', onOffline);
    window.addEventListener('online', onOnline);
    return () => {
      window.removeEventListener('offline', onOffline);
      window.removeEventListener('online', onOnline);
      s.io.off('reconnect_attempt', onAttempt);
      s.off();
    };
  }, [socket, apply, drain, loadMine, riderId, store]);
  useSocketLifetime(socket);

  // Keep the rider's own active and today's rows on the phone (merge rule still decides on load).
  useEffect(() => {
    const today = new Date().toDateString();
    const keep = [...store.values()]
      .filter(
        (r) =>
          r.riderId === riderId &&
          (isCarried(r.status) || new Date(r.deliveredAt ?? r.cancelledAt ?? 0).toDateString() === today),
      )
      .slice(-MAX_CACHED_ROWS);
    try {
      browserStorage()?.setItem(rowsStorageKey(user.id), JSON.stringify(keep));
    } catch {
      // quota or blocked: the list just is not kept across reloads
    }
  }, [store, revision, riderId, user.id]);

  // Another tab of this rider changed the queue.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key === queueStorageKey(user.id)) queue.reload();
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, [queue, user.id]);

  // Actions left waiting while the socket is up (an ack timed out): try again now and then.
  const hasQueued = queued.length > 0;
  useEffect(() => {
    if (!hasQueued || link !== 'live') return;
    const t = setInterval(() => void drain(), RETRY_EVERY_MS);
    return () => clearInterval(t);
  }, [hasQueued, link, drain]);

  /** Tap on a status button: queue it with a fresh key, then send what is queued. */
  const act = useCallback(
    (kind: RiderActionKind, deliverySeq: number) => {
      const action = queue.enqueue({ idempotencyKey: newIdempotencyKey(), kind, deliverySeq, createdAt: Date.now() });
      setView(action, socket.connected ? 'pending' : 'queued');
      void drain();
    },
    [queue, setView, drain, socket],
  );

  const dismiss = useCallback((deliverySeq: number) => {
    setViews((v) => Object.fromEntries(Object.entries(v).filter(([, view]) => view.deliverySeq !== deliverySeq)));
  }, []);

  /** The rows as of `revision`: a new object whenever they changed (the store merges in place). */
  const rowsView = useMemo(() => ({ store, revision }), [store, revision]);
  return { rowsView, socket, link, views, queued, loadError, act, dismiss };
}
