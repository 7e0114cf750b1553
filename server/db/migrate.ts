import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';

/**
 * Applies the committed Prisma migrations (prisma/migrations/<name>/migration.sql) in order and
 * records them in `_prisma_migrations` exactly as `prisma migrate deploy` does (checksum = sha256
 * of migration.sql), so the stock Prisma CLI elsewhere sees the same history. Runs at start-up
 * against PostgreSQL and the embedded PGlite alike; a Postgres advisory lock keeps concurrent
 * starters (cluster workers, several machines) from applying the same migration twice.
 */
export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export const DEFAULT_MIGRATIONS_DIR = path.resolve(process.cwd(), 'prisma', 'migrations');
/** The advisory lock key Prisma's own migrate uses. */
const MIGRATION_LOCK_KEY = 72707369;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

async function readMigrations(dir: string): Promise<{ name: string; sql: string; checksum: string }[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    throw new MigrationError(`migrations folder not found at ${dir}`);
  }
  const out: { name: string; sql: string; checksum: string }[] = [];
  for (const name of entries.sort()) {
    const file = path.join(dir, name, 'migration.sql');
    let sql: string;
    try {
      sql = await fs.readFile(file, 'utf8');
    } catch {
      continue; // migration_lock.toml and other non-migration entries
    }
    out.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

export async function applyMigrations(pool: pg.Pool, dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await readMigrations(dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const failed = rows.find((r) => r.finished_at === null);
    if (failed) {
      throw new MigrationError(
        `migration ${failed.migration_name} failed earlier and was not rolled back; fix the database, then mark it rolled back`,
      );
    }
    const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      const id = randomUUID();
      try {
        await client.query('BEGIN');
        await client.query(m.sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count, started_at)
           VALUES ($1, $2, now(), $3, 1, now())`,
          [id, m.checksum, m.name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return { applied, alreadyApplied: done.size };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
