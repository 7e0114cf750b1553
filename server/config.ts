import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** Start-up refused because of configuration: printed as one line naming the variable to fix. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const onOff = z
  .enum(['on', 'off', 'true', 'false', '1', '0'])
  .transform((v) => v === 'on' || v === 'true' || v === '1');

const postgresUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a postgresql://user@host:port/database URL');

/** An origin (scheme://host[:port]) as browsers send it; PUBLIC_URL may carry a path, which is dropped. */
const origin = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
    } catch {
      return false;
    }
  }, 'must be an http(s)://host[:port] origin')
  .transform((v) => new URL(v).origin);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: postgresUrl.optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis://host:port URL')
    .optional(),
  /** off: a push/API-only node (no Next.js pages), e.g. extra real-time servers behind a balancer. */
  SERVE_PAGES: onOff.default(true),
  /** Demo accounts and data; default on only with the embedded database (see loadConfig). */
  DEMO_SEED: onOff.optional(),
  DEMO_PASSWORD: z.string().min(1).default('demo'),
  /** The traffic simulator; default on only with the embedded database. */
  SIMULATOR: onOff.optional(),
  /** Simulated new orders per minute across all centers. */
  SIMULATOR_ORDERS_PER_MIN: z.coerce.number().min(0).max(100000).default(60),
  /** Simulator tick: every tick advances some deliveries through their lifecycle. */
  SIMULATOR_TICK_MS: z.coerce.number().int().min(50).max(600000).default(1000),
  /** How often the snapshot job repairs missed events. */
  SNAPSHOT_INTERVAL_MS: z.coerce.number().int().min(1000).max(3_600_000).default(120_000),
  /** Scales the simulator's lifecycle waits: 1 = realistic minutes, smaller = faster. */
  SIMULATOR_PACE: z.coerce.number().min(0.001).max(10).default(0.25),
  /** An active delivery older than this is shown as late. */
  LATE_AFTER_MIN: z.coerce.number().int().min(1).max(1440).default(30),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  COOKIE_SECURE: onOff.default(false),
  API_RATE_PER_SEC: z.coerce.number().int().min(1).max(100000).default(50),
  /** The address users open, e.g. https://dispatch.example.com: an allowed browser origin. */
  PUBLIC_URL: origin.optional(),
  /** More allowed browser origins, comma-separated. */
  ALLOWED_ORIGINS: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(origin))
    .optional(),
  /** Proxies in front whose X-Forwarded-For is believed: off, or how many (1-10). */
  TRUST_PROXY: z
    .union([z.enum(['off', 'false', '0']).transform(() => 0), z.coerce.number().int().min(1).max(10)])
    .default(0),
  /** Concurrent Socket.IO connections per client address (0: unlimited). */
  MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  /** Connections one server process holds at most (0: its open-file limit less what the database, Redis and files need). */
  MAX_CONNECTIONS: z.coerce.number().int().min(0).max(10_000_000).default(0),
  /**
   * Socket.IO heartbeat: the server pings every connection this often, and a connection that has
   * not answered within PING_TIMEOUT_SEC more is closed (clients use the same two figures to notice
   * a dead server). Their sum is how late a vanished client is noticed; every ping costs the server.
   */
  PING_INTERVAL_SEC: z.coerce.number().int().min(1).max(300).default(10),
  PING_TIMEOUT_SEC: z.coerce.number().int().min(1).max(300).default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Worker processes on this machine (node:cluster); default: one per core with DATABASE_URL, else 1. */
  WORKERS: z.coerce.number().int().min(1).max(256).optional(),
  /** Workers started ahead and kept idle, each taking a dead worker's place at once (cluster only). */
  SPARE_WORKERS: z.coerce.number().int().min(0).max(8).default(1),
  /** How long after a spare took a dead worker's place the next spare is started (ms). */
  SPARE_RESTART_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** Prefix of this deployment's Redis keys and stream (several deployments can share one Redis). */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and : _ . - only')
    .default('dd'),
  /** How long the cluster's job lease (Redis) lives without renewal: the longest a dead owner blocks a takeover. */
  JOB_LEASE_MS: z.coerce.number().int().min(500).max(600_000).default(10_000),
  /**
   * off: no MQTT channel for shop devices (no embedded broker, nothing published). Default on,
   * except for several processes without MQTT_URL (then off, and on is refused).
   */
  MQTT: onOff.optional(),
  /** The embedded broker's TCP port (1884: next to a system Mosquitto's 1883; 0 picks a free one). */
  MQTT_PORT: z.coerce.number().int().min(0).max(65535).default(1884),
  /** MQTT over WebSocket on the main port at /mqtt (embedded broker only). */
  MQTT_WS: onOff.default(true),
  /** An external broker (mqtt://user:pass@host:1883): the server publishes there and runs no broker. */
  MQTT_URL: z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '';
      } catch {
        return false;
      }
    }, 'must be an mqtt://user:password@host:port URL')
    .optional(),
  /** With MQTT_URL: manage devices' broker accounts and ACLs through Mosquitto's dynamic security plugin. */
  MQTT_DYNSEC: onOff.default(true),
  /** Seconds a shop's device has to acknowledge a new order before dispatchers see it flagged. */
  DEVICE_ACK_TIMEOUT_SEC: z.coerce.number().int().min(5).max(3600).default(60),
  // Operations (presence, monitor, alerts)
  /** A connection not refreshed for this long is gone (its node died). */
  PRESENCE_TTL_SEC: z.coerce.number().int().min(3).max(600).default(30),
  /** A connected rider without location or action for this long is flagged silent. */
  PRESENCE_SILENT_AFTER_SEC: z.coerce.number().int().min(5).max(86_400).default(120),
  /** How often each node reports its stats (and the alert evaluator runs). */
  MONITOR_REPORT_MS: z.coerce.number().int().min(250).max(60_000).default(2000),
  /** A node that has not reported for this long raises a node-down alert. */
  ALERT_NODE_DOWN_SEC: z.coerce.number().int().min(2).max(3600).default(10),
  /** Event-loop lag p99 above this raises an alert. */
  ALERT_LAG_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  ALERT_WEBHOOK_URL: z
    .string()
    .url()
    .refine((v) => /^https?:\/\//.test(v), 'must be an http(s):// URL')
    .optional(),
  /** Signs each webhook body (HMAC-SHA256). */
  ALERT_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  host: string;
  port: number;
  /** PostgreSQL connection string, or undefined for the embedded database. */
  databaseUrl: string | undefined;
  /** Folder of the embedded database (used only without DATABASE_URL). */
  dataDir: string;
  redisUrl: string | undefined;
  servePages: boolean;
  demo: { seed: boolean; password: string };
  simulator: { enabled: boolean; ordersPerMinute: number; tickMs: number; pace: number };
  snapshotIntervalMs: number;
  lateAfterMinutes: number;
  logLevel: Env['LOG_LEVEL'];
  sessionSecret: string | undefined;
  secureCookies: boolean;
  apiRatePerSecond: number;
  /** Browser origins allowed besides none (same-origin is always allowed when this is empty). */
  allowedOrigins: string[];
  trustProxy: number;
  maxConnectionsPerIp: number;
  maxConnections: number;
  /** Socket.IO heartbeat (ms): ping every `intervalMs`, close after `timeoutMs` more without an answer. */
  ping: { intervalMs: number; timeoutMs: number };
  /** Worker processes on this machine; 1 runs the server in this process (no primary). */
  workers: number;
  /** Idle workers, already started, that take a dead worker's place (WORKERS > 1 only). */
  spareWorkers: number;
  /** Delay before the next spare is started once one took a dead worker's place (ms). */
  spareRestartMs: number;
  jobLeaseMs: number;
  redisPrefix: string;
  /**
   * The shop devices' MQTT channel: an embedded aedes broker (one process only), an external
   * broker, or none.
   */
  mqtt: { mode: 'embedded'; port: number; websocket: boolean } | { mode: 'external'; url: string; dynsec: boolean } | { mode: 'off' };
  deviceAckTimeoutSec: number;
  ops: {
    presenceTtlMs: number;
    presenceSilentAfterMs: number;
    reportIntervalMs: number;
    nodeDownMs: number;
    lagMs: number;
    webhookUrl?: string;
    webhookSecret?: string;
  };
}

/** Parse the environment once at boot; throws ConfigError naming the first bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    const shown = variable in cleaned && !/PASSWORD|URL|SECRET/.test(variable) ? ` (got "${cleaned[variable]}")` : '';
    throw new ConfigError(variable, `${issue?.message ?? 'invalid value'}${shown}`);
  }
  const e = parsed.data;
  if (e.ALERT_WEBHOOK_URL && !e.ALERT_WEBHOOK_SECRET) throw new ConfigError('ALERT_WEBHOOK_SECRET', 'must be set when ALERT_WEBHOOK_URL is (it signs every alert)');
  if (e.WORKERS !== undefined && e.WORKERS > 1 && !e.DATABASE_URL) {
    throw new ConfigError(
      'WORKERS',
      `${e.WORKERS} workers need a PostgreSQL DATABASE_URL: the embedded database serves one process (unset WORKERS or set it to 1)`,
    );
  }
  const workers = e.WORKERS ?? (e.DATABASE_URL ? os.availableParallelism() : 1);
  const manyProcesses = workers > 1 || e.REDIS_URL !== undefined;
  const mqttOn = e.MQTT ?? (e.MQTT_URL !== undefined || !manyProcesses);
  if (mqttOn && !e.MQTT_URL && manyProcesses) {
    // Devices must all reach one broker: an embedded one per process would split them.
    throw new ConfigError('MQTT_URL', 'several server processes (WORKERS > 1 or REDIS_URL) need one external MQTT broker: set MQTT_URL, or MQTT=off');
  }
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    redisUrl: e.REDIS_URL,
    servePages: e.SERVE_PAGES,
    // With a real database nothing is seeded or simulated unless asked for: no known password
    // on a production database, no fake traffic on every node of a cluster.
    demo: { seed: e.DEMO_SEED ?? !e.DATABASE_URL, password: e.DEMO_PASSWORD },
    simulator: { enabled: e.SIMULATOR ?? !e.DATABASE_URL, ordersPerMinute: e.SIMULATOR_ORDERS_PER_MIN, tickMs: e.SIMULATOR_TICK_MS, pace: e.SIMULATOR_PACE },
    snapshotIntervalMs: e.SNAPSHOT_INTERVAL_MS,
    lateAfterMinutes: e.LATE_AFTER_MIN,
    logLevel: e.LOG_LEVEL,
    sessionSecret: e.SESSION_SECRET,
    secureCookies: e.COOKIE_SECURE,
    apiRatePerSecond: e.API_RATE_PER_SEC,
    allowedOrigins: [...new Set([...(e.PUBLIC_URL ? [e.PUBLIC_URL] : []), ...(e.ALLOWED_ORIGINS ?? [])])],
    trustProxy: e.TRUST_PROXY,
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    maxConnections: e.MAX_CONNECTIONS,
    ping: { intervalMs: e.PING_INTERVAL_SEC * 1000, timeoutMs: e.PING_TIMEOUT_SEC * 1000 },
    workers,
    spareWorkers: workers > 1 ? e.SPARE_WORKERS : 0,
    spareRestartMs: e.SPARE_RESTART_MS,
    jobLeaseMs: e.JOB_LEASE_MS,
    redisPrefix: e.REDIS_PREFIX,
    mqtt: !mqttOn
      ? { mode: 'off' }
      : e.MQTT_URL
        ? { mode: 'external', url: e.MQTT_URL, dynsec: e.MQTT_DYNSEC }
        : { mode: 'embedded', port: e.MQTT_PORT, websocket: e.MQTT_WS },
    deviceAckTimeoutSec: e.DEVICE_ACK_TIMEOUT_SEC,
    ops: {
      presenceTtlMs: e.PRESENCE_TTL_SEC * 1000,
      presenceSilentAfterMs: e.PRESENCE_SILENT_AFTER_SEC * 1000,
      reportIntervalMs: e.MONITOR_REPORT_MS,
      nodeDownMs: e.ALERT_NODE_DOWN_SEC * 1000,
      lagMs: e.ALERT_LAG_MS,
      ...(e.ALERT_WEBHOOK_URL ? { webhookUrl: e.ALERT_WEBHOOK_URL } : {}),
      ...(e.ALERT_WEBHOOK_SECRET ? { webhookSecret: e.ALERT_WEBHOOK_SECRET } : {}),
    },
  };
}

/**
 * Connections the kernel may hold for the server before it accepts them (the kernel caps it at
 * net.core.somaxconn). Node's default of 511 overflows in a reconnect storm: thousands of clients
 * come back within a second, the kernel drops the SYNs that do not fit, and each dropped client
 * retries only after TCP's back-off (1, 3, 7, 15 s): measured, 18,356 listen-queue overflows in
 * one storm of 5,000 clients.
 */
export const LISTEN_BACKLOG = 65_535;

/** File descriptors a server process keeps for itself (database pool, Redis, MQTT, files, IPC). */
export const RESERVED_FILES = 500;

/**
 * The most connections one process should hold: its open-file limit (Linux: /proc/self/limits)
 * less RESERVED_FILES; 0 (no cap) where the limit cannot be read or is unlimited. Past the limit
 * the process could not open a database connection or a file, and every request needing one
 * would fail; capped, a connection past it is closed on arrival and its client tries again,
 * reaching a process with room (the other workers share the port).
 */
export function connectionCapFromFileLimit(limits: string | null = readLimits()): number {
  const soft = limits?.match(/^Max open files\s+(\d+)/m)?.[1];
  return soft ? Math.max(100, Number(soft) - RESERVED_FILES) : 0;
}

function readLimits(): string | null {
  try {
    return fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
}
