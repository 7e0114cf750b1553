import { SignJWT, jwtVerify } from 'jose';

/**
 * Session and API tokens are JWTs signed with HS256 (jose: maintained, dependency-free, standard
 * compliant). They carry only the user id and role; the user is re-read on every connection so
 * that a deleted account or a changed membership takes effect at once.
 */
export interface TokenClaims {
  userId: number;
  role: string;
}

export const SESSION_TTL_SECONDS = 12 * 3600;
const ISSUER = 'dispatch-desk';

export function createTokenSigner(secret: string) {
  const key = new TextEncoder().encode(secret);
  return {
    async sign(claims: TokenClaims, ttlSeconds = SESSION_TTL_SECONDS): Promise<string> {
      return new SignJWT({ role: claims.role })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(claims.userId))
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key);
    },
    /** Resolves with the claims, or null for a missing, forged or expired token. */
    async verify(token: string | undefined): Promise<TokenClaims | null> {
      if (!token) return null;
      try {
        const { payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ['HS256'] });
        const userId = Number(payload.sub);
        if (!Number.isInteger(userId) || typeof payload.role !== 'string') return null;
        return { userId, role: payload.role };
      } catch {
        return null;
      }
    },
  };
}
export type TokenSigner = ReturnType<typeof createTokenSigner>;
