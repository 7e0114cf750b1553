import { rooms, REPAIR_LAYERS, type PresenceChange, type PresenceEntry, type PresenceHeartbeat, type PresenceRole, type PresenceView, type Transport } from '../../protocol';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from '../logger';
import { observeEvents, onDeparture } from '../realtime/ack';
import type { DispatchNamespace, DispatchSocket } from '../realtime/types';
import type { OpsMetrics } from './ops.metrics';
import { frozenEntry, type PresenceStore } from './presence.store';

export interface PresenceOptions {
  store: PresenceStore;
  dispatch: DispatchNamespace;
  nodeId: string;
  ttlMs: number;
  silentAfterMs: number;
  /** Connections whose expiry one event-loop turn pushes forward (default 1000). */
  refreshBatch?: number;
  metrics: OpsMetrics;
  logger: Logger;
}

/** Rider commands that prove the rider is there (location, or a tap the server acknowledges). */
const RIDER_ACTIVITY = new Set(['rider:position', 'delivery:pick_up', 'delivery:deliver', 'deliveries:mine']);
/** An unchanged connection is re-announced to its center at most this often. */
const REANNOUNCE_MS = 60_000;

interface LocalConn {
  /**
   * One entry per center of the user (same connection). Frozen, and replaced on every change:
   * the memory store keeps these objects themselves, not copies.
   */
  entries: readonly PresenceEntry[];
  /** Repair totals last reported per center and layer (made by the first report that has any). */
  repaired: Record<string, number> | null;
  announcedAt: number;
  /** Announced as silent (riders only). */
  silent: boolean;
}

/**
 * Presence of the /dispatch connections: who is online per center, on which transport, with the
 * device facts the browser sends, and which riders are silent. This node writes its own
 * connections to the store on connect, change and disconnect, and pushes their expiry forward
 * every third of the TTL; a dead node's entries expire. Changes are pushed to the center's room
 * (and HQ's) as `presence:changed`; expired entries are reported by whichever node runs `sweep`
 * (the alert evaluator, one per cluster), riders that turned silent by the node that holds them.
 */
export function createPresence(opts: PresenceOptions) {
  const { store, dispatch, nodeId, ttlMs, silentAfterMs, metrics, logger } = opts;
  const refreshBatch = opts.refreshBatch ?? 1000;
  const local = new Map<string, LocalConn>();
  /** The riders among them: the only connections that can turn silent. */
  const localRiders = new Map<string, LocalConn>();
  /** Clients on this node per center and role, counters only. */
  const counts = new Map<number, Map<PresenceRole, number>>();

  const isSilent = (e: PresenceEntry, now: number) => e.role === 'rider' && now - Date.parse(e.lastActivityAt) >= silentAfterMs;
  const view = (e: Readonly<PresenceEntry>, now = Date.now()): PresenceView => ({ ...e, silent: isSilent(e, now) });
  /**
   * Only riders are announced: the board shows riders' presence, and announcing every dispatcher
   * tab to every other one would grow with the square of a room's size. Everyone is listed.
   */
  const announce = (change: PresenceChange, role: PresenceRole) => {
    if (role === 'rider') dispatch.to([rooms.center(change.centerId), rooms.allCenters()]).emit('presence:changed', change);
  };
  const fail = (err: unknown) => logger.warn({ err }, 'presence store unavailable');

  function count(centerId: number, role: PresenceRole, d: number) {
    let m = counts.get(centerId);
    if (!m) counts.set(centerId, (m = new Map<PresenceRole, number>()));
    const n = (m.get(role) ?? 0) + d;
    if (n <= 0) m.delete(role);
    else m.set(role, n);
    if (m.size === 0) counts.delete(centerId);
    metrics.presence.set({ center: String(centerId), role }, Math.max(0, n));
  }

  /** Replace the connection's entries with ones that carry `patch` (the same facts in every center). */
  function update(conn: LocalConn, patch: Partial<PresenceEntry>) {
    conn.entries = conn.entries.map((e) => frozenEntry({ ...e, ...patch }));
  }

  function save(conn: LocalConn, announceIt: boolean) {
    const now = Date.now();
    for (const e of conn.entries) {
      if (e.centerId === 0) continue;
      store.upsert(e, ttlMs, now).catch(fail);
      if (announceIt) announce({ centerId: e.centerId, entry: view(e, now) }, e.role);
    }
    if (announceIt) conn.announcedAt = now;
  }

  /** A rider's command that proves presence (every /dispatch event is shown here, with the socket as `this`). */
  function riderActivity(this: DispatchSocket, event: string) {
    const conn = RIDER_ACTIVITY.has(event) && this.data.user.role === 'rider' ? local.get(this.id) : undefined;
    if (!conn) return;
    const at = new Date();
    const wasSilent = conn.entries.some((e) => isSilent(e, at.getTime()));
    const firstFix = event === 'rider:position' && conn.entries.some((e) => e.lastLocationAt === null);
    const iso = at.toISOString();
    update(conn, event === 'rider:position' ? { lastActivityAt: iso, lastSeenAt: iso, lastLocationAt: iso } : { lastActivityAt: iso, lastSeenAt: iso });
    conn.silent = false;
    save(conn, wasSilent || firstFix || at.getTime() - conn.announcedAt > REANNOUNCE_MS);
  }

  function disconnect(this: DispatchSocket) {
    const conn = local.get(this.id);
    if (!conn) return;
    local.delete(this.id);
    localRiders.delete(this.id);
    for (const e of conn.entries) {
      count(e.centerId, e.role, -1);
      if (e.centerId === 0) continue;
      store.remove(e.centerId, e.connId).catch(fail);
      announce({ centerId: e.centerId, removed: e.connId, userId: e.userId, riderId: e.riderId }, e.role);
    }
  }

  function connect(socket: DispatchSocket) {
    const user = socket.data.user;
    const now = new Date().toISOString();
    const transport = socket.conn.transport.name === 'websocket' ? 'websocket' : 'polling';
    const centers = user.centerIds.length > 0 ? user.centerIds : [0];
    const conn: LocalConn = {
      entries: centers.map((centerId) =>
        frozenEntry({
          connId: socket.id,
          userId: user.id,
          name: user.name,
          role: user.role,
          riderId: user.riderId,
          centerId,
          nodeId,
          transport,
          appVersion: null,
          battery: null,
          duty: null,
          connectedAt: now,
          lastSeenAt: now,
          lastLocationAt: null,
          lastActivityAt: now,
        }),
      ),
      repaired: null,
      announcedAt: 0,
      silent: false,
    };
    local.set(socket.id, conn);
    if (user.role === 'rider') localRiders.set(socket.id, conn);
    for (const c of centers) count(c, user.role, 1);
    save(conn, true);

    // Only a connection that is not on WebSocket yet can upgrade to it.
    if (transport === 'polling') {
      socket.conn.once('upgrade', () => {
        update(conn, { transport: 'websocket' satisfies Transport });
        save(conn, true);
      });
    }
  }
  observeEvents(dispatch, riderActivity);
  onDeparture(dispatch, disconnect);

  function heartbeat(socket: DispatchSocket, hb: PresenceHeartbeat): { ttlSec: number } {
    const conn = local.get(socket.id);
    if (!conn) return { ttlSec: ttlMs / 1000 };
    const now = new Date().toISOString();
    const patch: Partial<PresenceEntry> = { lastSeenAt: now };
    if (hb.appVersion !== undefined) patch.appVersion = hb.appVersion;
    if (hb.duty !== undefined) patch.duty = hb.duty;
    if (hb.battery) patch.battery = { level: Math.round(hb.battery.level * 20) / 20, charging: hb.battery.charging };
    const changed = conn.entries.some(
      (e) =>
        (patch.appVersion !== undefined && patch.appVersion !== e.appVersion) ||
        (patch.duty !== undefined && patch.duty !== e.duty) ||
        (patch.battery != null && (patch.battery.level !== e.battery?.level || patch.battery.charging !== e.battery.charging)),
    );
    update(conn, patch);
    // Repair counts: only the increase since the last heartbeat, and only for one of the
    // user's own centers (bounded labels).
    if (hb.repaired && hb.centerId !== undefined && socket.data.user.centerIds.includes(hb.centerId)) {
      for (const layer of REPAIR_LAYERS) {
        const total = hb.repaired[layer];
        if (total === undefined) continue;
        const key = `${hb.centerId}:${layer}`;
        const repaired = (conn.repaired ??= {});
        const before = repaired[key] ?? 0;
        if (total > before) metrics.repairs.inc({ center: String(hb.centerId), layer }, Math.min(total - before, 100_000));
        repaired[key] = total;
      }
    }
    save(conn, changed || Date.now() - conn.announcedAt > REANNOUNCE_MS);
    return { ttlSec: ttlMs / 1000 };
  }

  let refreshedAt = Number.NEGATIVE_INFINITY;
  /**
   * Push this node's expiries forward. Called every report interval, it does the work once a
   * third of the TTL has passed since the last pass: with the default 2 s reports and 30 s TTL,
   * one pass over every local connection in 10 s instead of five (an entry is never older than
   * 12 s of its 30 s).
   */
  async function refresh(now = Date.now()): Promise<void> {
    if (now - refreshedAt < ttlMs / 3) return;
    // In batches, the event loop free between them: one pass over 15,000 connections in one turn
    // held a worker's commands for 50-140 ms on a busy core. A connection that leaves meanwhile
    // is not touched (the stores touch only live entries); one that arrives was just written.
    const byCenter = new Map<number, string[]>();
    let batched = 0;
    const touch = async () => {
      for (const [c, ids] of byCenter) await store.touch(c, ids, ttlMs);
      byCenter.clear();
      batched = 0;
    };
    for (const conn of local.values()) {
      for (const e of conn.entries) {
        if (e.centerId === 0) continue;
        const list = byCenter.get(e.centerId) ?? [];
        list.push(e.connId);
        byCenter.set(e.centerId, list);
        batched += 1;
      }
      if (batched >= refreshBatch) {
        await touch();
        await nextTurn();
      }
    }
    await touch();
    // Only a pass that reached the store counts: a failed one is tried again next interval.
    refreshedAt = now;
  }

  async function list(centerId: number): Promise<PresenceView[]> {
    const now = Date.now();
    return (await store.list(centerId, now)).map((e) => view(e, now));
  }

  /**
   * Cluster housekeeping, run by one node: remove expired entries (a dead node's, or a lost
   * disconnect) and announce them.
   */
  async function sweep(): Promise<{ removed: number }> {
    const gone = await store.sweep();
    for (const e of gone) announce({ centerId: e.centerId, removed: e.connId, userId: e.userId, riderId: e.riderId }, e.role);
    return { removed: gone.length };
  }

  /**
   * Announce this node's riders that turned silent (a rider that acts again is announced by the
   * act itself). Every node runs it each report interval over its own riders only, whose last
   * action it knows first-hand: no store read. (It used to be the evaluator's, listing every
   * entry of every center from the store each interval: with Redis, every connection of the
   * cluster fetched and parsed every 2 s, dispatchers included.) The gauge counts this node's silent riders.
   */
  function checkSilent(now = Date.now()): void {
    let silentCount = 0;
    for (const conn of localRiders.values()) {
      const silent = conn.entries.some((e) => isSilent(e, now));
      if (silent) silentCount++;
      if (silent === conn.silent) continue;
      conn.silent = silent;
      for (const e of conn.entries) if (e.centerId !== 0) announce({ centerId: e.centerId, entry: view(e, now) }, e.role);
    }
    metrics.silentRiders.set(silentCount);
  }

  /** Clients on this node per center and role. */
  function centerCounts(): Record<string, Partial<Record<PresenceRole, number>>> {
    const out: Record<string, Partial<Record<PresenceRole, number>>> = {};
    for (const [c, m] of counts) out[String(c)] = Object.fromEntries(m);
    return out;
  }

  /** A graceful stop: take this node's entries out at once instead of letting them expire. */
  async function drain(): Promise<void> {
    await Promise.all(
      [...local.values()].flatMap((conn) => conn.entries.filter((e) => e.centerId !== 0).map((e) => store.remove(e.centerId, e.connId).catch(fail))),
    );
  }

  return { connect, heartbeat, refresh, checkSilent, list, sweep, centerCounts, drain, ttlMs, silentAfterMs };
}
export type Presence = ReturnType<typeof createPresence>;
