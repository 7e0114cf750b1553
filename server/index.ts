/**
 * Entry point: read configuration, open the database (PostgreSQL or the embedded default),
 * apply migrations, seed the demo, start Next.js + Socket.IO + REST on one port, and shut down
 * cleanly on SIGTERM/SIGINT. Wiring only: everything else lives in createApplication.
 */
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { IncomingMessage, ServerResponse } from 'node:http';
import next from 'next';
import { createApplication, type Application } from './app';
import { loadSessionSecret } from './auth/secret';
import { ConfigError, loadConfig, type Config } from './config';
import { openDatabase, type Database } from './db/database';
import { applyMigrations, MigrationError } from './db/migrate';
import { seedDemo } from './demo/seed';
import { createSimulator, type Simulator } from './demo/simulator';
import { createLogger, type Logger } from './logger';
import { connectRedis } from './redis';
import { createLocalLock, createRedisLock } from './jobs/lock';

// Next.js would report usage to a remote host; this server talks to nothing it was not configured for.
process.env.NEXT_TELEMETRY_DISABLED ??= '1';

function fail(message: string): never {
  process.stderr.write(`dispatch-desk: ${message}\n`);
  process.exit(1);
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

  let db: Database | undefined;
  let redis: Redis | undefined;
  let app: Application | undefined;
  let simulator: Simulator | undefined;

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await simulator?.stop();
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
    const migrations = await applyMigrations(db.pool);
    logger.info({ database: db.describe, applied: migrations.applied }, 'database ready');
    if (config.demo.seed) {
      const seed = await seedDemo(db.prisma, { password: config.demo.password });
      logger.info(seed, seed.seeded ? 'demo data seeded' : 'demo data present');
    }
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
    const nextApp = next({ dev: config.env === 'development', dir: process.cwd(), hostname: 'localhost', port: config.port });
    nextReady = nextApp.prepare();
    nextReady.catch(() => undefined);
    const handle = nextApp.getRequestHandler();
    nextHandler = async (req, res) => {
      await nextReady;
      await handle(req, res);
    };
  }
  app = createApplication({
    db: db.prisma,
    logger,
    sessionSecret,
    secureCookies: config.secureCookies,
    apiRatePerSecond: config.apiRatePerSecond,
    snapshotIntervalMs: config.snapshotIntervalMs,
    lateAfterMinutes: config.lateAfterMinutes,
    periodLock: redis ? createRedisLock(redis, `${os.hostname()}:${process.pid}`, `${config.redisPrefix}:lock`) : createLocalLock(),
    ...(redis ? { redis, redisStream: `${config.redisPrefix}:events` } : {}),
    redisPrefix: config.redisPrefix,
    ops: config.ops,
    ...(nextHandler ? { nextHandler } : {}),
  });
  try {
    const port = await app.listen(config.port, config.host);
    await nextReady.catch(async (err: unknown) => {
      await app?.close();
      await db?.close();
      const missing = /production build|BUILD_ID/i.test((err as Error).message);
      fail(missing ? 'no production build of the pages: run npm run build (npm start does it for you)' : `pages failed to start: ${(err as Error).message}`);
    });
    logger.info({ port, ms: Date.now() - started, url: `http://localhost:${port}` }, 'Dispatch Desk is live');
  } catch (err) {
    await app.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`bad configuration: PORT: port ${config.port} is already in use; set PORT to a free port`);
    if (e.code === 'EACCES') fail(`bad configuration: PORT: not allowed to listen on port ${config.port}`);
    if (e.code === 'EADDRNOTAVAIL') fail(`bad configuration: HOST: cannot listen on ${config.host}`);
    throw err;
  }

  if (config.simulator.enabled) {
    simulator = createSimulator({
      db: db.prisma,
      deliveries: app.services.deliveries,
      logger,
      ordersPerMinute: config.simulator.ordersPerMinute,
      tickMs: config.simulator.tickMs,
      pace: config.simulator.pace,
    });
    simulator.start();
    logger.info(config.simulator, 'traffic simulator on');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`dispatch-desk: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
