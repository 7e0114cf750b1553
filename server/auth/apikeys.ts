import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/database';

/**
 * API keys for back-end services: `ddk_<prefix>_<secret>`. Only the SHA-256 of the whole key is
 * stored (keys are 32 random bytes, so a fast hash is right here, unlike passwords); the prefix
 * finds the row. The key is shown once, when created.
 */
export interface ApiKeyInfo {
  id: number;
  name: string;
  prefix: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export async function createApiKey(db: Db, name: string): Promise<{ key: string; info: ApiKeyInfo }> {
  const prefix = randomBytes(6).toString('hex');
  const key = `ddk_${prefix}_${randomBytes(32).toString('base64url')}`;
  const row = await db.apiKey.create({ data: { name, prefix, keyHash: sha256(key) } });
  return { key, info: { id: row.id, name: row.name, prefix } };
}

export async function verifyApiKey(db: Db, key: string | undefined): Promise<ApiKeyInfo | null> {
  const m = key ? /^ddk_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$/.exec(key) : null;
  if (!m || !key) return null;
  const row = await db.apiKey.findUnique({ where: { prefix: m[1]! } });
  if (!row || row.revokedAt) return null;
  const a = Buffer.from(sha256(key), 'hex');
  const b = Buffer.from(row.keyHash, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
  void db.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  return { id: row.id, name: row.name, prefix: row.prefix };
}

export async function listApiKeys(db: Db) {
  return db.apiKey.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true, prefix: true, createdAt: true, lastUsedAt: true, revokedAt: true } });
}

export async function revokeApiKey(db: Db, prefix: string): Promise<boolean> {
  const res = await db.apiKey.updateMany({ where: { prefix, revokedAt: null }, data: { revokedAt: new Date() } });
  return res.count === 1;
}
