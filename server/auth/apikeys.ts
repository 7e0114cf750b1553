import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../protocol';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import type { ApiKeyPrincipal } from './policy';

/**
 * API keys for back-end services: `ddk_<prefix>_<secret>`. Only the SHA-256 of the whole key is
 * stored (keys are 32 random bytes, so a fast hash is right here, unlike passwords); the prefix
 * finds the row. The key is shown once, when created. Each key carries scopes (what it may do).
 */
export type ApiKeyInfo = ApiKeyPrincipal;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const KEY_PATTERN = /^ddk_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$/;

/** Scopes a key gets when none are named: publishing notices only. */
export const DEFAULT_SCOPES: readonly ApiKeyScope[] = ['publish:notices'];

export function parseScopes(list: readonly string[]): ApiKeyScope[] {
  const bad = list.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
  if (bad.length) throw new Error(`unknown scope ${bad.join(', ')}; scopes are ${API_KEY_SCOPES.join(', ')}`);
  return [...new Set(list)] as ApiKeyScope[];
}

function scopesOf(stored: readonly string[]): ApiKeyScope[] {
  return stored.filter((s): s is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(s));
}

export async function createApiKey(db: Db, name: string, scopes: readonly ApiKeyScope[] = DEFAULT_SCOPES): Promise<{ key: string; info: ApiKeyInfo }> {
  const prefix = randomBytes(6).toString('hex');
  const key = `ddk_${prefix}_${randomBytes(32).toString('base64url')}`;
  const row = await db.apiKey.create({ data: { name, prefix, keyHash: sha256(key), scopes: [...scopes] } });
  return { key, info: { id: row.id, name: row.name, prefix, scopes: scopesOf(row.scopes) } };
}

export interface ApiKeyVerifierOptions {
  /** How long a verified key is trusted without reading its row again (revocation takes at most this). */
  cacheMs?: number;
  /** `lastUsedAt` is written at most once per this period per key. */
  touchEveryMs?: number;
  now?: () => number;
}

/**
 * Verifies keys with a short in-process cache: a busy integrator costs one row read per key per
 * `cacheMs`, and one `lastUsedAt` write per key per `touchEveryMs`, instead of a read and a write
 * per request. A revoked key stops working within `cacheMs` (and at once on the node that revoked it).
 */
export function createApiKeyVerifier(db: Db, logger: Logger, opts: ApiKeyVerifierOptions = {}) {
  const cacheMs = opts.cacheMs ?? 10_000;
  const touchEveryMs = opts.touchEveryMs ?? 60_000;
  const now = opts.now ?? Date.now;
  /** By sha256 of the whole key: a wrong secret with a right prefix never hits the cache. */
  const cache = new Map<string, { info: ApiKeyInfo | null; until: number }>();
  const touched = new Map<number, number>();
  const MAX_CACHED = 10_000;

  async function load(prefix: string, hash: string): Promise<ApiKeyInfo | null> {
    const row = await db.apiKey.findUnique({ where: { prefix } });
    if (!row || row.revokedAt) return null;
    const a = Buffer.from(hash, 'hex');
    const b = Buffer.from(row.keyHash, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    return { id: row.id, name: row.name, prefix: row.prefix, scopes: scopesOf(row.scopes) };
  }

  function touch(info: ApiKeyInfo): void {
    const t = now();
    if ((touched.get(info.id) ?? 0) > t - touchEveryMs) return;
    touched.set(info.id, t);
    db.apiKey.update({ where: { id: info.id }, data: { lastUsedAt: new Date(t) } }).catch((err: unknown) => {
      logger.warn({ err, key: info.prefix }, 'could not record the API key use');
    });
  }

  return {
    async verify(key: string | undefined): Promise<ApiKeyInfo | null> {
      const m = key ? KEY_PATTERN.exec(key) : null;
      if (!m || !key) return null;
      const hash = sha256(key);
      const hit = cache.get(hash);
      let info: ApiKeyInfo | null;
      if (hit && hit.until > now()) info = hit.info;
      else {
        info = await load(m[1]!, hash);
        if (cache.size >= MAX_CACHED) cache.clear();
        cache.set(hash, { info, until: now() + cacheMs });
      }
      if (info) touch(info);
      return info;
    },
    /** Forget a key at once on this node (after revoking it here). */
    forget(prefix: string): void {
      for (const [hash, entry] of cache) if (entry.info?.prefix === prefix) cache.delete(hash);
    },
  };
}
export type ApiKeyVerifier = ReturnType<typeof createApiKeyVerifier>;

export async function listApiKeys(db: Db) {
  return db.apiKey.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true, prefix: true, scopes: true, createdAt: true, lastUsedAt: true, revokedAt: true } });
}

export async function revokeApiKey(db: Db, prefix: string): Promise<boolean> {
  const res = await db.apiKey.updateMany({ where: { prefix, revokedAt: null }, data: { revokedAt: new Date() } });
  return res.count === 1;
}
