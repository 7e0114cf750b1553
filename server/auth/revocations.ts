import type { Db } from '../db/database';

/**
 * What every node must know, in memory, to refuse a still-unexpired token without a database
 * read: sessions signed out (by id) and users whose role or centers changed (tokens issued
 * before the change must be renewed from the database). An entry matters only while a token
 * issued before it can still be unexpired, so each is kept for one token lifetime and then
 * dropped: the sets stay bounded by the revocations of the last few minutes.
 *
 * Kept in sync across a cluster by the application (Socket.IO server-side emits through the
 * adapter); loaded from the sessions table at start, so a restarted node knows them too.
 */
export function createRevocations(tokenTtlSeconds: number, now: () => number = Date.now) {
  const keepMs = tokenTtlSeconds * 1000 + 5_000;
  const revoked = new Map<string, number>(); // sid -> drop after (ms)
  const staleUsers = new Map<number, { atMs: number; until: number }>();

  function prune(): void {
    const t = now();
    for (const [sid, until] of revoked) if (until <= t) revoked.delete(sid);
    for (const [id, e] of staleUsers) if (e.until <= t) staleUsers.delete(id);
  }
  const timer = setInterval(prune, 30_000);
  timer.unref();

  return {
    revokeSession(sid: string): void {
      revoked.set(sid, now() + keepMs);
    },
    /** Tokens of this user issued at or before `atMs` carry old claims. */
    markUserStale(userId: number, atMs: number): void {
      const prior = staleUsers.get(userId);
      if (!prior || prior.atMs < atMs) staleUsers.set(userId, { atMs, until: now() + keepMs });
    },
    isRevoked: (sid: string) => revoked.has(sid),
    /** Whether a token of this user issued at `issuedAtMs` predates a change of the user. */
    isStale(userId: number, issuedAtMs: number): boolean {
      const e = staleUsers.get(userId);
      return e !== undefined && issuedAtMs <= e.atMs;
    },
    /** Fill from the database: what was revoked or changed within one token lifetime. */
    async load(db: Db): Promise<void> {
      const since = new Date(now() - keepMs);
      const rows = await db.session.findMany({
        where: { OR: [{ revokedAt: { gt: since } }, { staleAt: { gt: since } }] },
        select: { id: true, userId: true, revokedAt: true, staleAt: true },
      });
      for (const r of rows) {
        if (r.revokedAt && r.revokedAt > since) this.revokeSession(r.id);
        if (r.staleAt && r.staleAt > since) this.markUserStale(r.userId, r.staleAt.getTime());
      }
    },
    size: () => ({ sessions: revoked.size, users: staleUsers.size }),
    stop: () => clearInterval(timer),
  };
}
export type Revocations = ReturnType<typeof createRevocations>;
