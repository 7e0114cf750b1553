import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../server/db/database';
import { applyMigrations } from '../../server/db/migrate';

/** The PostgreSQL server tests use; each test file gets its own throw-away database on it. */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface Backend {
  name: 'embedded' | 'postgres';
  /** A fresh, migrated, empty database; `dispose` removes every trace of it. */
  open(): Promise<{ db: Database; dispose: () => Promise<void>; url?: string }>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_PG_URL} (${(err as Error).message}). Start it or set TEST_DATABASE_URL.`,
    );
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export const embedded: Backend = {
  name: 'embedded',
  async open() {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dd-test-'));
    const db = await openDatabase({ databaseUrl: undefined, dataDir: dir });
    await applyMigrations(db.pool);
    return {
      db,
      async dispose() {
        await db.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgres: Backend = {
  name: 'postgres',
  async open() {
    const name = `dd_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_PG_URL);
    url.pathname = `/${name}`;
    const db = await openDatabase({ databaseUrl: url.toString(), dataDir: '' });
    await applyMigrations(db.pool);
    return {
      db,
      /** For child processes (the server, the CLIs) that open it themselves. */
      url: url.toString(),
      async dispose() {
        await db.close();
        await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  },
};

/** Every integration suite that touches the database runs against both. */
export const BACKENDS: Backend[] = [embedded, postgres];
