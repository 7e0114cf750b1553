import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends';
import type { Database } from '../../server/db/database';

/**
 * A failed statement must not poison the connection: the embedded database serves every caller
 * over one wire-protocol session, so an error left half-handled would break every later query.
 */
describe.each(BACKENDS)('database errors on $name', (backend) => {
  let db: Database;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ db, dispose } = await backend.open());
    await db.pool.query('CREATE TABLE error_probe (k text PRIMARY KEY)');
  });
  afterAll(async () => {
    await dispose?.();
  });

  it('keeps serving after a constraint violation', async () => {
    await db.pool.query('INSERT INTO error_probe VALUES ($1)', ['a']);
    await expect(db.pool.query('INSERT INTO error_probe VALUES ($1)', ['a'])).rejects.toThrow(/duplicate key/);
    const { rows } = await db.pool.query('SELECT k FROM error_probe WHERE k = $1', ['a']);
    expect(rows).toEqual([{ k: 'a' }]);
  });

  it('keeps serving after a statement that does not parse', async () => {
    await expect(db.pool.query('SELECT nope FROM error_probe WHERE k = $1', ['a'])).rejects.toThrow(/nope/);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM error_probe');
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('rolls back a failed transaction and serves the next one', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO error_probe VALUES ($1)', ['b']);
      await expect(client.query('INSERT INTO error_probe VALUES ($1)', ['a'])).rejects.toThrow(/duplicate key/);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const { rows } = await db.pool.query('SELECT k FROM error_probe ORDER BY k');
    expect(rows).toEqual([{ k: 'a' }]);
  });
});
