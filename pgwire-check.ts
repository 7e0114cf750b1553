import { openDatabase } from '/work/main/server/db/database';
import fs from 'node:fs';
const dir = fs.mkdtempSync('/tmp/pgw-');
const db = await openDatabase({ databaseUrl: undefined, dataDir: dir });
await db.pool.query('CREATE TABLE t (k text primary key)');
await db.pool.query('INSERT INTO t VALUES ($1)', ['a']);
try { await db.pool.query('INSERT INTO t VALUES ($1)', ['a']); } catch (e) { console.log('expected error:', (e as Error).message); }
const r = await db.pool.query('SELECT k FROM t WHERE k = $1', ['a']);
console.log('after error:', r.rows);
try { await db.pool.query('SELECT nope FROM t WHERE k = $1', ['a']); } catch (e) { console.log('expected error 2:', (e as Error).message); }
console.log('after parse error:', (await db.pool.query('SELECT count(*)::int AS n FROM t')).rows);
await db.pool.query('BEGIN'); try { await db.pool.query('INSERT INTO t VALUES ($1)', ['a']); } catch (e) { console.log('tx error:', (e as Error).message); } await db.pool.query('ROLLBACK');
console.log('after tx error:', (await db.pool.query('SELECT count(*)::int AS n FROM t')).rows);
await db.close(); fs.rmSync(dir, { recursive: true });
