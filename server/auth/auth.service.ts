import type { SessionUser } from '../../protocol';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import { verifyPassword } from './password';
import type { TokenSigner } from './tokens';

export function createAuthService(db: Db, signer: TokenSigner) {
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

  return {
    loadUser,
    /** Check credentials; the same error whether the email or the password is wrong. */
    async login(email: string, password: string): Promise<{ token: string; user: SessionUser }> {
      const u = await db.user.findUnique({ where: { email } });
      const ok = u ? await verifyPassword(password, u.passwordHash) : false;
      if (!u || !ok) throw new AppError('unauthorized', 'Wrong email or password');
      const user = (await loadUser(u.id))!;
      return { token: await signer.sign({ userId: u.id, role: u.role }), user };
    },
    /** The user behind a token, or null. */
    async authenticate(token: string | undefined): Promise<SessionUser | null> {
      const claims = await signer.verify(token);
      return claims ? loadUser(claims.userId) : null;
    },
  };
}
export type AuthService = ReturnType<typeof createAuthService>;

/** Read one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}
