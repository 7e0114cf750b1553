import { createStore } from 'zustand/vanilla';
import { type PresenceChange, type PresenceHeartbeat, type PresenceView, type RiderPresence } from '@/protocol';
import { request, type DispatchSocket } from './socket';

/** How often a page tells the server it is still there, with its device facts. */
export const HEARTBEAT_EVERY_MS = 15_000;

/** The app's version as built (next.config.js), sent with each heartbeat. */
export const APP_VERSION = process.env.NEXT_PUBLIC_APP_VERSION ?? 'dev';

interface BatteryLike {
  level: number;
  charging: boolean;
}
type NavigatorWithBattery = Navigator & { getBattery?: () => Promise<BatteryLike> };

/** The Battery API where the browser has it (Chromium on Android and desktop); null elsewhere. */
async function readBattery(): Promise<BatteryLike | null> {
  const nav = typeof navigator === 'undefined' ? undefined : (navigator as NavigatorWithBattery);
  if (!nav?.getBattery) return null;
  try {
    const b = await nav.getBattery();
    return { level: b.level, charging: b.charging };
  } catch {
    return null;
  }
}

/**
 * Send `presence:heartbeat` on every connect and then every `everyMs`: app version, battery,
 * plus what the page adds (duty status, the sync engine's repair counts). Returns a stop function.
 */
export function startHeartbeat(socket: DispatchSocket, facts: () => Omit<PresenceHeartbeat, 'appVersion' | 'battery'>, everyMs = HEARTBEAT_EVERY_MS): () => void {
  let stopped = false;
  const beat = async () => {
    if (stopped || !socket.connected) return;
    const battery = await readBattery();
    const payload: PresenceHeartbeat = { appVersion: APP_VERSION, ...(battery ? { battery } : {}), ...facts() };
    request(socket, 'presence:heartbeat', payload, 10_000).catch(() => undefined); // the next beat tries again
  };
  const onConnect = () => void beat();
  socket.on('connect', onConnect);
  if (socket.connected) void beat();
  const timer = setInterval(() => void beat(), everyMs);
  return () => {
    stopped = true;
    clearInterval(timer);
    socket.off('connect', onConnect);
  };
}

export interface PresenceState {
  /** Connections of the followed centers by `centerId:connId`. */
  entries: Map<string, PresenceView>;
  revision: number;
  /** How each rider with a connection looks (riders not in it are offline); a new object on every change. */
  view: { riders: ReadonlyMap<number, RiderPresence>; revision: number };
  /** Replace one center's connections with a fresh list. */
  load(centerId: number, entries: PresenceView[]): void;
  apply(change: PresenceChange): void;
  reset(): void;
}

/** Fold connections per rider: online if any is live, silent if all are silent. */
function ridersOf(entries: Iterable<PresenceView>): Map<number, RiderPresence> {
  const out = new Map<number, RiderPresence>();
  for (const e of entries) {
    if (e.riderId === null) continue;
    if (!e.silent) out.set(e.riderId, 'online');
    else if (!out.has(e.riderId)) out.set(e.riderId, 'silent');
  }
  return out;
}

/** Who is online in the followed centers, kept from `presence:list` and `presence:changed`. */
export function createPresenceStore() {
  return createStore<PresenceState>()((set) => {
    const entries = new Map<string, PresenceView>();
    const key = (centerId: number, connId: string) => `${centerId}:${connId}`;
    const bump = () => set((s) => ({ revision: s.revision + 1, view: { riders: ridersOf(entries.values()), revision: s.revision + 1 } }));
    return {
      entries,
      revision: 0,
      view: { riders: new Map(), revision: 0 },
      load(centerId, list) {
        for (const [k, e] of entries) if (e.centerId === centerId) entries.delete(k);
        for (const e of list) entries.set(key(e.centerId, e.connId), e);
        bump();
      },
      apply(change) {
        if ('removed' in change) {
          if (!entries.delete(key(change.centerId, change.removed))) return;
        } else {
          entries.set(key(change.centerId, change.entry.connId), change.entry);
        }
        bump();
      },
      reset() {
        entries.clear();
        bump();
      },
    };
  });
}
export type PresenceStore = ReturnType<typeof createPresenceStore>;

/** Keep a presence store for some centers over a /dispatch socket (the caller joins the rooms). */
export function followPresence(socket: DispatchSocket, store: PresenceStore, centerIds: number[]): () => void {
  const load = () => {
    for (const centerId of centerIds) {
      request(socket, 'presence:list', { centerId }).then((l) => store.getState().load(centerId, l.entries), () => undefined);
    }
  };
  const onChange = (c: PresenceChange) => {
    if (centerIds.includes(c.centerId)) store.getState().apply(c);
  };
  socket.on('presence:changed', onChange);
  socket.on('connect', load);
  if (socket.connected) load();
  return () => {
    socket.off('presence:changed', onChange);
    socket.off('connect', load);
    store.getState().reset();
  };
}
