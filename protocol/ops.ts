import { z } from 'zod';

/**
 * Operations contract: presence (who is online, per center), the nodes' stats records the
 * monitor aggregates, and alerts. Shared by the server, the dispatcher board and /monitor.
 */

export const TRANSPORTS = ['websocket', 'polling'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** The repair layers of the client sync engine (app/lib/delivery-sync.ts), as counted there. */
export const REPAIR_LAYERS = ['recovery', 'resync', 'snapshot', 'polling'] as const;
export type RepairLayerName = (typeof REPAIR_LAYERS)[number];

/** Presence roles counted per center. */
export const PRESENCE_ROLES = ['dispatcher', 'hq', 'rider', 'callcenter', 'admin'] as const;
export type PresenceRole = (typeof PRESENCE_ROLES)[number];

/**
 * What a browser tells about itself every heartbeat (all optional, all bounded). `repaired`
 * carries the sync engine's cumulative per-layer counts since the page loaded; the server counts
 * only the increase, for one of the user's centers.
 */
export const presenceHeartbeatSchema = z.object({
  appVersion: z.string().trim().min(1).max(32).regex(/^[\w.+-]+$/).optional(),
  battery: z.object({ level: z.number().min(0).max(1), charging: z.boolean() }).optional(),
  duty: z.enum(['on', 'off']).optional(),
  centerId: z.number().int().positive().optional(),
  repaired: z
    .object(Object.fromEntries(REPAIR_LAYERS.map((l) => [l, z.number().int().min(0).max(1e9)])) as Record<RepairLayerName, z.ZodNumber>)
    .partial()
    .optional(),
});
export type PresenceHeartbeat = z.infer<typeof presenceHeartbeatSchema>;

/** One connection of a signed-in user, as presence holds it. */
export interface PresenceEntry {
  /** Connection id (the socket id): a user with two tabs has two entries. */
  connId: string;
  userId: number;
  name: string;
  role: PresenceRole;
  riderId: number | null;
  centerId: number;
  /** The node holding the connection. */
  nodeId: string;
  transport: Transport;
  appVersion: string | null;
  battery: { level: number; charging: boolean } | null;
  duty: 'on' | 'off' | null;
  connectedAt: string;
  lastSeenAt: string;
  lastLocationAt: string | null;
  /** Last location, status tap or other acknowledged rider action. */
  lastActivityAt: string;
}

/** A presence entry with the flag computed at read time. */
export interface PresenceView extends PresenceEntry {
  /** A rider connected but without location or action for the silent threshold. */
  silent: boolean;
}

export interface PresenceList {
  centerId: number;
  silentAfterSec: number;
  entries: PresenceView[];
}

/** Pushed to a center's room when a connection appears, changes, or goes (`removed`). */
export type PresenceChange = { centerId: number; entry: PresenceView } | { centerId: number; removed: string; userId: number; riderId: number | null };

export const presenceListSchema = z.object({ centerId: z.number().int().positive() });

/** How one rider looks on the board, folded from its connections. */
export type RiderPresence = 'online' | 'silent' | 'offline';

/** Fold a rider's connections: online if any connection is live and not silent; none = offline. */
export function riderPresence(entries: Iterable<PresenceView>, riderId: number): RiderPresence {
  let seen = false;
  for (const e of entries) {
    if (e.riderId !== riderId) continue;
    if (!e.silent) return 'online';
    seen = true;
  }
  return seen ? 'silent' : 'offline';
}

/** A node's compact stats record, published every report interval. Counters only, no lists of sockets. */
export interface NodeStats {
  nodeId: string;
  host: string;
  pid: number;
  startedAt: string;
  reportedAt: string;
  uptimeSec: number;
  /** Share of one core used since the last report, in percent. */
  cpuPct: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** p99 event-loop delay since the last report (ms). */
  lagP99Ms: number;
  sockets: Record<string, number>;
  eventsInPerSec: number;
  eventsOutPerSec: number;
  /** Half the round trip to the slowest other node through the adapter (ms); null alone. */
  adapterLagMs: number | null;
  /** Clients on this node per center and role (center 0: users without a center). */
  centers: Record<string, Partial<Record<PresenceRole, number>>>;
  /** Extra gauges other features add (e.g. connected shop devices). */
  gauges: Record<string, number>;
}

export interface NodeView extends NodeStats {
  /** The node has not reported within the node-down threshold. */
  down: boolean;
}

export const ALERT_KINDS = ['node_down', 'redis_down', 'database_down', 'event_loop_lag'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface AlertRecord {
  id: string;
  kind: AlertKind;
  /** What the alert is about: a node id, or `cluster`. */
  subject: string;
  message: string;
  raisedAt: string;
  resolvedAt: string | null;
}

/** Pushed to /monitor every report interval by each node, to its own monitor sockets. */
export interface MonitorOverview {
  sentAt: number;
  reportIntervalMs: number;
  nodes: NodeView[];
  /** Sum over live nodes: clients per center and role. */
  centers: { centerId: number; roles: Partial<Record<PresenceRole, number>>; total: number }[];
  alerts: AlertRecord[];
}

/** One point of the monitor's time series, per node. */
export interface NodeSample {
  t: number;
  sockets: number;
  cpuPct: number;
  rssBytes: number;
  lagP99Ms: number;
  eventsInPerSec: number;
  eventsOutPerSec: number;
}

/** One chart point of a node's stats record: the server keeps these, the monitor page draws them. */
export function nodeSample(s: NodeStats): NodeSample {
  return {
    t: Date.parse(s.reportedAt),
    sockets: Object.values(s.sockets).reduce((a, b) => a + b, 0),
    cpuPct: s.cpuPct,
    rssBytes: s.rssBytes,
    lagP99Ms: s.lagP99Ms,
    eventsInPerSec: s.eventsInPerSec,
    eventsOutPerSec: s.eventsOutPerSec,
  };
}

export interface MonitorHistory {
  nodes: { nodeId: string; samples: NodeSample[] }[];
  alerts: AlertRecord[];
}

/**
 * The alert webhook: a JSON POST of this body, signed with HMAC-SHA256 over the raw body with
 * ALERT_WEBHOOK_SECRET, hex, in this header as `sha256=<hex>`.
 */
export const ALERT_SIGNATURE_HEADER = 'x-dispatchdesk-signature';
export interface AlertWebhookBody {
  status: 'firing' | 'resolved';
  alert: AlertRecord;
  /** The node that evaluated it. */
  evaluator: string;
  sentAt: string;
}
