import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { PrismaClient } from './generated/client';
import { ConfigError } from '../config';

export type Db = PrismaClient;

export interface Database {
  prisma: PrismaClient;
  /** The pg pool Prisma runs on (also used by the migrator and raw queries). */
  pool: pg.Pool;
  kind: 'postgres' | 'embedded';
  /** Where the data lives, for logs (never includes a password). */
  describe: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Pool size for PostgreSQL (the embedded database serves one connection). */
  poolSize?: number;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  // A database that stops answering turns into a clear error within seconds, never a hang:
  // connecting gives up after 5 s, a query after 15 s. Half the pool, once opened, stays open
  // (pg closes idle connections after 10 s): a burst (a reconnect storm's resyncs) then finds
  // connections ready instead of opening them on an event loop that is already running late.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, min: Math.ceil(poolSize / 2), connectionTimeoutMillis: 5000, query_timeout: 15_000 });
  pool.on('error', () => undefined); // idle-client errors surface on the next query instead
  try {
    const c = await pool.connect();
    c.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('DATABASE_URL', `cannot connect to ${redact(url)} (${e.code ?? e.message})`);
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    pool,
    kind: 'postgres',
    describe: redact(url),
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/** One process owns an embedded data folder at a time; a pid file says which. */
function lockDataDir(dir: string): () => void {
  const lockFile = path.join(dir, 'dispatch-desk.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch {
      const pid = Number(fs.readFileSync(lockFile, 'utf8'));
      let alive = false;
      if (pid && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (alive) {
        throw new ConfigError('DATA_DIR', `${dir} is in use by process ${pid}; stop it or choose another DATA_DIR`);
      }
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new ConfigError('DATA_DIR', `cannot lock ${dir}`);
}

/**
 * The embedded default: PostgreSQL compiled to WASM (PGlite) keeping its files in DATA_DIR,
 * served over the Postgres wire protocol on a loopback port so that Prisma uses the very same
 * driver adapter, schema and migrations as with a real PostgreSQL server.
 */
async function openEmbedded(dataDir: string): Promise<Database> {
  const pgdata = path.join(dataDir, 'pgdata');
  try {
    fs.mkdirSync(pgdata, { recursive: true });
  } catch (err) {
    throw new ConfigError('DATA_DIR', `cannot create ${pgdata} (${(err as NodeJS.ErrnoException).code})`);
  }
  const unlock = lockDataDir(dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    db = await PGlite.create(pgdata);
    // PGlite is a single session, so the pool holds one connection and queues callers. The socket
    // server accepts a few: node-postgres drops a client after a query error and connects a new
    // one while the old socket is still closing (with a limit of 1 that reconnect is refused).
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
    await server.start();
    const conn = server.getServerConn();
    const pool = new pg.Pool({ connectionString: `postgresql://postgres@${conn}/postgres`, max: 1 });
    pool.on('error', () => undefined);
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    const pglite = db;
    const socketServer = server;
    return {
      prisma,
      pool,
      kind: 'embedded',
      describe: `embedded PGlite in ${pgdata}`,
      async close() {
        await prisma.$disconnect();
        await pool.end();
        await socketServer.stop();
        await pglite.close();
        unlock();
      },
    };
  } catch (err) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    unlock();
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('DATA_DIR', `cannot open the embedded database in ${pgdata} (${(err as Error).message})`);
  }
}

export function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.poolSize ?? 10) : openEmbedded(opts.dataDir);
}
