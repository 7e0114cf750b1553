/** Apply pending migrations to DATABASE_URL or the embedded database in DATA_DIR, then exit. */
import { ConfigError, loadConfig } from '../server/config';
import { openDatabase } from '../server/db/database';
import { applyMigrations } from '../server/db/migrate';

async function main() {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
  try {
    const r = await applyMigrations(db.pool);
    console.log(r.applied.length ? `Applied: ${r.applied.join(', ')}` : `Up to date (${r.alreadyApplied} migrations).`);
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(`migrate: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
  process.exit(1);
});
