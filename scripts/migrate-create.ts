/**
 * Authors a new migration, like `prisma migrate dev --create-only`, without the native schema engine.
 *
 * Why: Prisma's CLI needs the native schema-engine binary for `migrate dev`, and that binary is
 * downloaded on demand - impossible in offline and air-gapped installs (prisma.config.ts points the
 * CLI at scripts/no-schema-engine.sh instead). This script uses the WASM build of the same engine
 * (`@prisma/schema-engine-wasm`) against a throw-away in-memory PGlite:
 *
 *  1. start PGlite and serve it over the Postgres wire protocol on 127.0.0.1:<random port>;
 *  2. apply every committed prisma/migrations/<dir>/migration.sql to it, in lexical order;
 *  3. let the engine diff that database against the Prisma schema (through @prisma/adapter-pg);
 *  4. write the resulting SQL to prisma/migrations/<UTC yyyymmddHHMMSS>_<name>/migration.sql.
 *
 * Nothing outside the migrations folder is touched; no real database is needed.
 *
 * Usage:
 *   npm run migrate:create -- <name> [--schema <path>]
 *   node --import tsx scripts/migrate-create.ts <name> [--schema <path>]
 *
 * <name> must match /^[a-z0-9_]+$/. `--schema` defaults to prisma/schema.prisma. When the schema
 * already matches the migrations it prints "No schema changes; no migration created." and exits 0.
 * Set DEBUG_MIGRATE_CREATE=1 to see the engine's log lines on stderr.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import pg from 'pg';

const MIGRATIONS_DIR = path.resolve('prisma/migrations');
const NAME_RE = /^[a-z0-9_]+$/;

/** Loads the bundler-target wasm-bindgen build by hand (plain Node cannot import the .wasm). */
async function loadSchemaEngine() {
  const require = createRequire(import.meta.url);
  const bgPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  const bg = (await import(pathToFileURL(bgPath).href)) as typeof import('@prisma/schema-engine-wasm/schema_engine_bg');
  const wasmBytes = fs.readFileSync(bgPath.replace(/\.js$/, '.wasm'));
  const { instance } = await WebAssembly.instantiate(wasmBytes, { './schema_engine_bg.js': bg });
  bg.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as (() => void) | undefined)?.();
  return bg.SchemaEngine;
}

/**
 * The engine reads pg_catalog columns of Postgres's internal one-byte `"char"` type (OID 18:
 * relkind, contype, ...) and wants them as ColumnTypeEnum.Character, but adapter-pg 7.10 rejects
 * that OID (UnsupportedNativeDataType). So: the pool reports such fields as TEXT to adapter-pg
 * (pg has already parsed the values to strings) and remembers their positions, keyed by the rows
 * array; the adapter's queryRaw, which returns that same array, then re-types those columns.
 * Only pool.query is wrapped (not clients checked out for transactions): the diff opens none.
 */
const CHAR_OID = 18;
const TEXT_OID = 25;
const charColumnsByRows = new WeakMap<unknown[], number[]>();

function reportCharAsText(pool: pg.Pool): void {
  const query = pool.query.bind(pool) as (config: string | pg.QueryConfig) => Promise<pg.QueryResult>;
  const wrapped = async (config: string | pg.QueryConfig): Promise<pg.QueryResult> => {
    const result = await query(config);
    const charColumns = (result.fields ?? []).flatMap((field, i) => (field.dataTypeID === CHAR_OID ? [i] : []));
    if (charColumns.length > 0) {
      for (const i of charColumns) result.fields[i]!.dataTypeID = TEXT_OID;
      charColumnsByRows.set(result.rows, charColumns);
    }
    return result;
  };
  pool.query = wrapped as typeof pool.query;
}

function restoreCharColumns(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const queryRaw = adapter.queryRaw.bind(adapter);
  adapter.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const i of charColumnsByRows.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character;
    return result;
  };
  return adapter;
}

function adapterFactory(pool: pg.Pool): SqlMigrationAwareDriverAdapterFactory {
  reportCharAsText(pool);
  const pgFactory = new PrismaPg(pool);
  return {
    provider: pgFactory.provider,
    adapterName: pgFactory.adapterName,
    connect: async () => restoreCharColumns(await pgFactory.connect()),
    // A diff between the live database and a datamodel never needs a shadow database.
    connectToShadowDb: () => Promise.reject(new Error('migrate-create does not use a shadow database')),
  };
}

function parseArgs(argv: string[]): { name: string; schemaPath: string } {
  let name: string | undefined;
  let schemaPath = 'prisma/schema.prisma';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--schema') {
      const value = argv[++i];
      if (!value) throw new Error('--schema needs a path');
      schemaPath = value;
    } else if (arg.startsWith('--schema=')) {
      schemaPath = arg.slice('--schema='.length);
    } else if (name === undefined) {
      name = arg;
    } else {
      throw new Error(`unexpected argument "${arg}"`);
    }
  }
  if (!name) throw new Error('missing migration name. Usage: npm run migrate:create -- <name> [--schema <path>]');
  if (!NAME_RE.test(name)) throw new Error(`invalid migration name "${name}": use only a-z, 0-9 and _`);
  return { name, schemaPath };
}

function utcTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14); // yyyymmddHHMMSS
}

async function main(): Promise<void> {
  const { name, schemaPath } = parseArgs(process.argv.slice(2));
  const schema = fs.readFileSync(schemaPath, 'utf8');
  const migrationDirs = fs
    .readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(MIGRATIONS_DIR, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort();

  const db = new PGlite();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  let pool: pg.Pool | undefined;
  let engine: { free(): void } | undefined;
  try {
    for (const dir of migrationDirs) {
      try {
        await db.exec(fs.readFileSync(path.join(MIGRATIONS_DIR, dir, 'migration.sql'), 'utf8'));
      } catch (error) {
        throw new Error(`migration ${dir} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await server.start();
    const [host, port] = server.getServerConn().split(':');
    // The socket server accepts a single connection, so the pool must never open a second one.
    pool = new pg.Pool({ host, port: Number(port), user: 'postgres', database: 'postgres', max: 1 });

    const SchemaEngine = await loadSchemaEngine();
    const files = [{ path: schemaPath, content: schema }];
    const log = (line: string) => {
      if (process.env.DEBUG_MIGRATE_CREATE) process.stderr.write(`${line}\n`);
    };
    const schemaEngine = await SchemaEngine.new(
      { datamodels: files.map((f): [string, string] => [f.path, f.content]) },
      log,
      bindMigrationAwareSqlAdapterFactory(adapterFactory(pool)),
    );
    engine = schemaEngine;
    const { stdout } = await schemaEngine.diff({
      from: { tag: 'schemaDatasource', files, configDir: process.cwd() },
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });

    const sql = stdout?.trim() ?? '';
    if (sql === '' || sql === '-- This is an empty migration.') {
      console.log('No schema changes; no migration created.');
      return;
    }
    const dir = path.join(MIGRATIONS_DIR, `${utcTimestamp()}_${name}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, 'migration.sql');
    fs.writeFileSync(file, `${sql}\n`);
    console.log(path.relative(process.cwd(), file));
  } finally {
    engine?.free();
    await pool?.end().catch(() => {});
    await server.stop().catch(() => {});
    await db.close().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : JSON.stringify(error) ?? String(error);
    // Engine errors are multi-line (rustc style); keep the first line and the "--> file:line" location.
    const where = /-->\s+(\S+)/.exec(message)?.[1];
    console.error(`migrate:create: ${message.split('\n')[0]}${where ? ` (${where})` : ''}`);
    process.exit(1);
  },
);
