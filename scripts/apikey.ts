/**
 * Manage API keys for back-end services (the HTTP publish API and the order endpoints).
 *
 *   npm run apikey -- create <name> [--scope <scope>]...   prints the new key once; only its hash is stored
 *   npm run apikey -- list                                  prefix, name, scopes, state, last use
 *   npm run apikey -- revoke <prefix>
 *
 * Scopes: publish:notices (POST /api/publish), orders:create (POST /api/orders),
 * orders:cancel (POST /api/orders/<no>/cancel). Without --scope a key gets publish:notices only.
 *
 * Uses DATABASE_URL, or the embedded database in DATA_DIR (stop the server first: one process
 * owns an embedded data folder). Applies pending migrations, so it works before the first start.
 */
import { loadConfig } from '../server/config';
import { runCli } from './cli';
import { API_KEY_SCOPES } from '../protocol';
import { createApiKey, DEFAULT_SCOPES, listApiKeys, parseScopes, revokeApiKey } from '../server/auth/apikeys';
import { openDatabase } from '../server/db/database';
import { applyMigrations } from '../server/db/migrate';

const USAGE = `usage: npm run apikey -- create <name> [--scope ${API_KEY_SCOPES.join('|')}]... | list | revoke <prefix>`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const scopeArgs: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--scope') {
      const v = argv[++i];
      if (!v) {
        console.error(USAGE);
        return 2;
      }
      scopeArgs.push(...v.split(','));
    } else if (a.startsWith('--scope=')) scopeArgs.push(...a.slice('--scope='.length).split(','));
    else positional.push(a);
  }
  const [cmd, arg] = positional;
  let scopes = DEFAULT_SCOPES;
  try {
    if (scopeArgs.length) scopes = parseScopes(scopeArgs);
  } catch (err) {
    console.error(`apikey: ${(err as Error).message}`);
    return 2;
  }
  if (!cmd || !['create', 'list', 'revoke'].includes(cmd)) {
    console.error(USAGE);
    return 2;
  }
  if ((cmd === 'create' || cmd === 'revoke') && !arg) {
    console.error(USAGE);
    return 2;
  }
  if (cmd === 'create' && !/^[\w .-]{1,80}$/.test(arg!)) {
    console.error('apikey: the name may use letters, digits, space, _ . - (at most 80)');
    return 2;
  }
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    await applyMigrations(db.pool);
    if (cmd === 'create') {
      const { key, info } = await createApiKey(db.prisma, arg!, scopes);
      console.log(`Created API key "${info.name}" (prefix ${info.prefix}, scopes ${info.scopes.join(' ')}). It is shown only now:\n\n${key}\n`);
      console.log('Send it as: Authorization: Bearer <key>');
    } else if (cmd === 'list') {
      const keys = await listApiKeys(db.prisma);
      if (keys.length === 0) console.log('No API keys.');
      for (const k of keys) {
        const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
        const scopeList = k.scopes.length ? k.scopes.join(',') : '(none)';
        console.log(`${k.prefix}  ${k.name.padEnd(24)}  ${scopeList.padEnd(44)}  ${state}  last used ${k.lastUsedAt?.toISOString() ?? 'never'}`);
      }
    } else {
      const ok = await revokeApiKey(db.prisma, arg!);
      console.log(ok ? `Revoked ${arg}.` : `No active key with prefix ${arg}.`);
      if (!ok) return 1;
    }
    return 0;
  } finally {
    await db.close();
  }
}

runCli('apikey', main);
