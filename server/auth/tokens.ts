import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { sessionUserSchema, type SessionUser } from '../../protocol';

/**
 * Session tokens are short-lived JWTs signed with HS256 (jose: maintained, dependency-free,
 * standard compliant). They carry the session id (`sid`) and the user's claims (role, centers,
 * rider), so a Socket.IO connect or a REST call needs no database read while the token is fresh.
 * An expired token is not useless: its session may be renewed from the database (see
 * auth.service), which is where sign-out and role changes are enforced.
 */
export interface TokenClaims {
  sid: string;
  user: SessionUser;
  /** Issued at, milliseconds since the epoch (finer than `iat`, to order tokens against changes). */
  issuedAtMs: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
}

/** Life of one token; renewal issues the next. */
export const TOKEN_TTL_SECONDS = 15 * 60;
/** An idle session (no renewal) ends after this; each renewal slides it forward. */
export const SESSION_TTL_SECONDS = 12 * 3600;
const ISSUER = 'dispatch-desk';

export type VerifyResult = { state: 'valid'; claims: TokenClaims } | { state: 'expired'; claims: TokenClaims } | { state: 'invalid' };

function claimsOf(payload: JWTPayload): TokenClaims | null {
  const user = sessionUserSchema.safeParse({
    id: Number(payload.sub),
    email: payload.email,
    name: payload.name,
    role: payload.role,
    centerIds: payload.centers,
    riderId: payload.rid ?? null,
  });
  if (!user.success || typeof payload.sid !== 'string' || typeof payload.ims !== 'number' || typeof payload.exp !== 'number') return null;
  return { sid: payload.sid, user: user.data, issuedAtMs: payload.ims, exp: payload.exp };
}

export function createTokenSigner(secret: string, ttlSeconds = TOKEN_TTL_SECONDS) {
  // Imported once: given the raw bytes, jose imports a WebCrypto key on every sign and verify,
  // which was most of a connect's token check (every Socket.IO connect verifies one).
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return {
    ttlSeconds,
    async sign(sid: string, user: SessionUser, nowMs = Date.now()): Promise<string> {
      const iat = Math.floor(nowMs / 1000);
      return new SignJWT({ sid, ims: nowMs, role: user.role, email: user.email, name: user.name, centers: user.centerIds, rid: user.riderId })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(user.id))
        .setIssuer(ISSUER)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .sign(await key);
    },
    /**
     * Check the signature first; a well-signed but expired token is reported as `expired` with its
     * claims (jose verifies the signature before the time claims), so its session can be renewed.
     */
    async verify(token: string | undefined, nowMs = Date.now()): Promise<VerifyResult> {
      if (!token || token.length > 4096) return { state: 'invalid' };
      try {
        const { payload } = await jwtVerify(token, await key, { issuer: ISSUER, algorithms: ['HS256'], currentDate: new Date(nowMs) });
        const claims = claimsOf(payload);
        return claims ? { state: 'valid', claims } : { state: 'invalid' };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) {
          const claims = claimsOf(err.payload);
          if (claims && err.payload.iss === ISSUER) return { state: 'expired', claims };
        }
        return { state: 'invalid' };
      }
    },
  };
}
export type TokenSigner = ReturnType<typeof createTokenSigner>;
