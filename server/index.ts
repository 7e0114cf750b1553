/**
 * Entry point: read configuration, open the database (PostgreSQL or the embedded default),
 * apply migrations, seed the demo, start Next.js + Socket.IO + REST on one port, and shut down
 * cleanly on SIGTERM/SIGINT. Wiring only: everything else lives in createApplication.
 *
 * With WORKERS > 1 this process becomes a node:cluster primary (migrations and seeding run here,
 * once, before forking; see cluster/primary.ts) and each worker runs the rest of this file.
 */
import cluster from 'node:cluster';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createApplication, type Application } from './app';
import { loadSessionSecret } from './auth/secret';
import { ConfigError, connectionCapFromFileLimit, loadConfig, type Config } from './config';
import { openDatabase, type Database } from './db/database';
import { applyMigrations, MigrationError } from './db/migrate';
import { seedDemo } from './demo/seed';
import { createSimulator, type Simulator } from './demo/simulator';
import { createLogger, type Logger } from './logger';
import { connectRedis } from './redis';
import { createLocalLock, createRedisLock } from './jobs/lock';
import { createPrimaryAssignedLeadership, createRedisLeadership, createSoleLeadership, type Leadership } from './jobs/leadership';
import { EXIT_BAD_CONFIG, READY, SPARE_ENV, SPARE_READY, isPromote, runPrimary } from './cluster/primary';
import { routeSessionsToWorkers, type WorkerRouting } from './cluster/routing';

// Next.js would report usage to a remote host; this server talks to nothing it was not configured for.
process.env.NEXT_TELEMETRY_DISABLED ??= '1';

function fail(message: string): never {
  process.stderr.write(`dispatch-desk: ${message}\n`);
  process.exit(cluster.isWorker && message.startsWith('bad configuration') ? EXIT_BAD_CONFIG : 1);
}

/** A listen error (the port taken or not allowed, the host not this machine's) as a configuration error. */
function failOnListenError(err: unknown, config: Config): void {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') fail(`bad configuration: PORT: port ${config.port} is already in use; set PORT to a free port`);
  if (code === 'EACCES') fail(`bad configuration: PORT: not allowed to listen on port ${config.port}`);
  if (code === 'EADDRNOTAVAIL') fail(`bad configuration: HOST: cannot listen on ${config.host}`);
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(`bad configuration: ${err.message}`);
    throw err;
  }
  const logger: Logger = createLogger(config.logLevel);
  const started = Date.now();
  if (config.workers > 1 && cluster.isPrimary) return primary(config, logger);
  const worker = cluster.isWorker;
  const nodeId = `${os.hostname()}:${process.pid}`;

  let db: Database | undefined;
  let redis: Redis | undefined;
  let app: Application | undefined;
  let simulator: Simulator | undefined;
  let leadership: Leadership | undefined;
  let workerRouting: WorkerRouting | undefined;

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await leadership?.stop(); // hands the job lease over at once
    await simulator?.stop();
    workerRouting?.close();
    await app?.close();
    await db?.close();
    redis?.disconnect();
    logger.info('stopped');
    process.exit(0);
  };
  let shuttingDown = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      void shutdown(signal);
    });
  }

  try {
    db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    if (config.redisUrl) redis = await connectRedis(config.redisUrl);
    // Cluster workers start after the primary migrated and seeded.
    if (!worker) await prepareDatabase(db, config, logger);
  } catch (err) {
    await db?.close().catch(() => undefined);
    redis?.disconnect();
    if (err instanceof ConfigError) fail(`bad configuration: ${err.message}`);
    if (err instanceof MigrationError) fail(`database migration failed: ${err.message}`);
    throw err;
  }

  let sessionSecret: string;
  try {
    sessionSecret = loadSessionSecret(config.sessionSecret, config.dataDir);
  } catch (err) {
    await db.close().catch(() => undefined);
    fail(`bad configuration: SESSION_SECRET: not set and cannot keep one in ${config.dataDir} (${(err as Error).message})`);
  }

  // Listen before Next.js is ready so that a port problem is reported at once; page requests
  // that arrive during the few seconds Next needs to prepare simply wait for it.
  let nextHandler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  let nextReady: Promise<void> = Promise.resolve();
  if (config.servePages) {
    // Loaded only when pages are served: a push-only node (SERVE_PAGES=off) does not carry Next.js.
    const { default: next } = await import('next');
    const nextApp = next({ dev: config.env === 'development', dir: process.cwd(), hostname: 'localhost', port: config.port });
    nextReady = nextApp.prepare();
    nextReady.catch(() => undefined);
    const handle = nextApp.getRequestHandler();
    nextHandler = async (req, res) => {
      await nextReady;
      await handle(req, res);
    };
  }
  // Who runs the snapshot, retention and simulator: a Redis lease across machines, the primary's
  // choice among the workers of one machine, or this process alone.
  leadership = redis
    ? createRedisLeadership({ redis, key: `${config.redisPrefix}:leader`, nodeId, ttlMs: config.jobLeaseMs, logger })
    : worker
      ? createPrimaryAssignedLeadership(logger)
      : createSoleLeadership();
  app = createApplication({
    db: db.prisma,
    logger,
    sessionSecret,
    secureCookies: config.secureCookies,
    apiRatePerSecond: config.apiRatePerSecond,
    allowedOrigins: config.allowedOrigins,
    trustProxy: config.trustProxy,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    maxConnections: config.maxConnections || connectionCapFromFileLimit(),
    ping: config.ping,
    dev: config.env === 'development',
    snapshotIntervalMs: config.snapshotIntervalMs,
    lateAfterMinutes: config.lateAfterMinutes,
    deviceAckTimeoutSec: config.deviceAckTimeoutSec,
    ...(config.mqtt.mode === 'off' ? {} : { mqtt: config.mqtt.mode === 'embedded' ? { ...config.mqtt, host: config.host } : config.mqtt }),
    periodLock: redis ? createRedisLock(redis, nodeId, `${config.redisPrefix}:lock`) : createLocalLock(),
    leadership,
    nodeId,
    clusterWorker: worker,
    ...(redis ? { redis, redisStream: `${config.redisPrefix}:events` } : {}),
    redisPrefix: config.redisPrefix,
    ops: config.ops,
    ...(nextHandler ? { nextHandler } : {}),
  });
  try {
    // A worker listens on the cluster's port (shared by the workers, each accepting) once its
    // application is built; until then the other workers (or the kernel's listen queue) keep the
    // connections.
    if (worker) workerRouting = await routeSessionsToWorkers(app);
    // A spare is built and then waits, idle, until the primary puts it in a dead worker's place.
    if (worker && process.env[SPARE_ENV]) await promoted();
    const port = await app.listen(config.port, config.host);
    await nextReady.catch(async (err: unknown) => {
      await app?.close();
      await db?.close();
      const missing = /production build|BUILD_ID/i.test((err as Error).message);
      fail(missing ? 'no production build of the pages: run npm run build (npm start does it for you)' : `pages failed to start: ${(err as Error).message}`);
    });
    if (worker) process.send?.(READY);
    logger.info({ port, ms: Date.now() - started, url: `http://localhost:${port}`, ...(worker ? { worker: process.pid } : {}) }, 'Dispatch Desk is live');
    if (config.mqtt.mode === 'off') logger.info(config.redisUrl || config.workers > 1 ? 'shop devices over MQTT off: several processes need MQTT_URL (an external broker)' : 'shop devices over MQTT off (MQTT=off)');
  } catch (err) {
    await app.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    if (err instanceof ConfigError) fail(`bad configuration: ${err.message}`);
    failOnListenError(err, config);
    throw err;
  }

  if (config.simulator.enabled) {
    const sim = createSimulator({
      db: db.prisma,
      deliveries: app.services.deliveries,
      logger,
      ordersPerMinute: config.simulator.ordersPerMinute,
      tickMs: config.simulator.tickMs,
      pace: config.simulator.pace,
    });
    simulator = sim;
    // Once per cluster: the simulator follows the job ownership.
    leadership.onChange((leads) => {
      if (leads) {
        sim.start();
        logger.info(config.simulator, 'traffic simulator on');
      } else void sim.stop();
    });
  }
  leadership.start();
}

/** A spare worker: tell the primary it is ready, then wait until it is told to serve. */
function promoted(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (!isPromote(m)) return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    process.send?.(SPARE_READY);
  });
}

/** Migrations, then the demo seed: once per start, before any worker serves. */
async function prepareDatabase(db: Database, config: Config, logger: Logger): Promise<void> {
  const migrations = await applyMigrations(db.pool);
  logger.info({ database: db.describe, applied: migrations.applied }, 'database ready');
  if (config.demo.seed) {
    const seed = await seedDemo(db.prisma, { password: config.demo.password });
    logger.info(seed, seed.seeded ? 'demo data seeded' : 'demo data present');
  }
}

/** WORKERS > 1: prepare the database once, then fork and supervise the workers. */
async function primary(config: Config, logger: Logger): Promise<void> {
  try {
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      await prepareDatabase(db, config, logger);
    } finally {
      await db.close();
    }
    // Fail here, once, rather than in every worker.
    if (config.redisUrl) (await connectRedis(config.redisUrl)).disconnect();
  } catch (err) {
    if (err instanceof ConfigError) fail(`bad configuration: ${err.message}`);
    if (err instanceof MigrationError) fail(`database migration failed: ${err.message}`);
    throw err;
  }
  let supervisor: Awaited<ReturnType<typeof runPrimary>>;
  try {
    supervisor = await runPrimary({ config, logger });
  } catch (err) {
    failOnListenError(err, config);
    throw err;
  }
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping the cluster');
      void supervisor.stop().then(() => {
        logger.info('cluster stopped');
        process.exit(0);
      });
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`dispatch-desk: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
