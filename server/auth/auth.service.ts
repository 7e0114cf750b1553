import { randomBytes } from 'node:crypto';
import { ROLES, type Role, type SessionUser } from '../../protocol';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import { verifyPassword } from './password';
import type { Revocations } from './revocations';
import { SESSION_TTL_SECONDS, type TokenSigner } from './tokens';

/** A caller authenticated by a session token. */
export interface Authenticated {
  user: SessionUser;
  sid: string;
  /** Set when the token was expired or stale and the session was renewed: the caller's next token. */
  renewed?: string;
}

/** Told when sessions end or users change, so every node (and every live socket) follows. */
export interface SessionEvents {
  sessionsRevoked(userId: number, sids: string[]): void;
  userChanged(userId: number, atMs: number): void;
}

export interface AuthServiceDeps {
  db: Db;
  signer: TokenSigner;
  revocations: Revocations;
  events?: SessionEvents;
  sessionTtlSeconds?: number;
  now?: () => number;
}

/**
 * Sign-in, sessions and their end. A token is checked with no database read while it is fresh:
 * signature, expiry, and the in-memory revocation sets. An expired token, or one issued before
 * the user's role or centers changed, is renewed from the database (the session must still be
 * live), which yields fresh claims and the next token. Signing out revokes the session in the
 * database and on every node at once.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const { db, signer, revocations } = deps;
  const now = deps.now ?? Date.now;
  const sessionTtlMs = (deps.sessionTtlSeconds ?? SESSION_TTL_SECONDS) * 1000;

  async function loadUser(userId: number): Promise<SessionUser | null> {
    const u = await db.user.findUnique({
      where: { id: userId },
      include: { memberships: { select: { centerId: true } }, rider: { select: { id: true, centerId: true } } },
    });
    if (!u) return null;
    const centerIds = new Set(u.memberships.map((m) => m.centerId));
    if (u.rider) centerIds.add(u.rider.centerId);
    return { id: u.id, email: u.email, name: u.name, role: u.role, centerIds: [...centerIds].sort((a, b) => a - b), riderId: u.rider?.id ?? null };
  }

  /** The session behind `sid`, still live: renew it and issue the next token with fresh claims. */
  async function renewSession(sid: string, userId: number): Promise<Authenticated | null> {
    const t = now();
    const session = await db.session.findUnique({ where: { id: sid } });
    if (!session || session.userId !== userId || session.revokedAt || session.expiresAt.getTime() <= t) return null;
    const user = await loadUser(userId);
    if (!user) return null;
    await db.session.update({ where: { id: sid }, data: { expiresAt: new Date(t + sessionTtlMs) } });
    return { user, sid, renewed: await signer.sign(sid, user, t) };
  }

  async function revoke(userId: number, where: { id?: string }): Promise<string[]> {
    const live = await db.session.findMany({ where: { userId, revokedAt: null, ...where }, select: { id: true } });
    if (live.length === 0) return [];
    const sids = live.map((s) => s.id);
    await db.session.updateMany({ where: { id: { in: sids } }, data: { revokedAt: new Date(now()) } });
    for (const sid of sids) revocations.revokeSession(sid);
    deps.events?.sessionsRevoked(userId, sids);
    return sids;
  }

  async function userChanged(userId: number): Promise<void> {
    const at = now();
    await db.session.updateMany({ where: { userId, revokedAt: null }, data: { staleAt: new Date(at) } });
    revocations.markUserStale(userId, at);
    deps.events?.userChanged(userId, at);
  }

  return {
    loadUser,
    /** Check credentials; the same error whether the email or the password is wrong. */
    async login(email: string, password: string): Promise<{ token: string; user: SessionUser; sid: string }> {
      const u = await db.user.findUnique({ where: { email } });
      const ok = u ? await verifyPassword(password, u.passwordHash) : false;
      if (!u || !ok) throw new AppError('unauthorized', 'Wrong email or password');
      const user = await loadUser(u.id);
      if (!user) throw new AppError('unauthorized', 'Wrong email or password');
      const t = now();
      const sid = randomBytes(18).toString('base64url');
      await db.session.create({ data: { id: sid, userId: u.id, createdAt: new Date(t), expiresAt: new Date(t + sessionTtlMs) } });
      return { token: await signer.sign(sid, user, t), user, sid };
    },
    /**
     * The caller behind a token, or null. Fresh and unrevoked: no database read. Expired or stale:
     * renewed from the database when the session is still live (then `renewed` holds the next token).
     */
    async authenticate(token: string | undefined): Promise<Authenticated | null> {
      const v = await signer.verify(token, now());
      if (v.state === 'invalid') return null;
      const { sid, user, issuedAtMs } = v.claims;
      if (revocations.isRevoked(sid)) return null;
      if (v.state === 'expired' || revocations.isStale(user.id, issuedAtMs)) return renewSession(sid, user.id);
      return { user, sid };
    },
    /** Force a renewal (native clients call this before their token expires). */
    async renew(token: string | undefined): Promise<Authenticated | null> {
      const v = await signer.verify(token, now());
      if (v.state === 'invalid' || revocations.isRevoked(v.claims.sid)) return null;
      return renewSession(v.claims.sid, v.claims.user.id);
    },
    /** End one session everywhere. */
    logout: (userId: number, sid: string) => revoke(userId, { id: sid }),
    /** End every session of a user everywhere (e.g. a compromised account). */
    logoutEverywhere: (userId: number) => revoke(userId, {}),
    /** Change a user's role; their live tokens and sockets follow within seconds. */
    async setRole(userId: number, role: Role): Promise<SessionUser> {
      if (!(ROLES as readonly string[]).includes(role)) throw new AppError('bad_request', `Unknown role ${role}`);
      const res = await db.user.updateMany({ where: { id: userId }, data: { role } });
      if (res.count === 0) throw new AppError('not_found', `User ${userId} not found`);
      await userChanged(userId);
      return (await loadUser(userId))!;
    },
    /** Set a user's center memberships (the whole list); live tokens and sockets follow. */
    async setCenters(userId: number, centerIds: number[]): Promise<SessionUser> {
      const ids = [...new Set(centerIds)];
      await db.$transaction(async (tx) => {
        if (!(await tx.user.findUnique({ where: { id: userId }, select: { id: true } }))) throw new AppError('not_found', `User ${userId} not found`);
        const found = await tx.center.count({ where: { id: { in: ids } } });
        if (found !== ids.length) throw new AppError('bad_request', 'Unknown center in the list');
        await tx.centerMembership.deleteMany({ where: { userId, centerId: { notIn: ids } } });
        await tx.centerMembership.createMany({ data: ids.map((centerId) => ({ userId, centerId })), skipDuplicates: true });
      });
      await userChanged(userId);
      return (await loadUser(userId))!;
    },
  };
}
export type AuthService = ReturnType<typeof createAuthService>;

/** Read one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined; // malformed escape: no usable cookie
      }
    }
  }
  return undefined;
}
