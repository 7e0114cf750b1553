import { createSigner, createVerifier } from 'fast-jwt';
import { sessionUserSchema, type SessionUser } from '../../protocol';

/**
 * Session tokens are short-lived JWTs signed with HS256 (fast-jwt: maintained, standard
 * compliant, and it checks an HMAC with node:crypto in about 10 µs of CPU, where a WebCrypto
 * library took about 47 µs and, in a reconnect storm, a fifth of a worker's CPU). They carry
 * the session id (`sid`) and the user's claims (role, centers, rider), so a Socket.IO connect
 * or a REST call needs no database read while the token is fresh.
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

/** The claims as they come out of a verified token (any JSON: checked by `claimsOf`). */
type Payload = Record<string, unknown>;

function claimsOf(payload: Payload): TokenClaims | null {
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
  // The time claims are written and checked here against the caller's clock (`nowMs`), so the
  // library neither adds nor checks them: a well-signed but expired token is reported as
  // `expired` with its claims, so its session can be renewed.
  const signToken = createSigner({ key: secret, algorithm: 'HS256', noTimestamp: true });
  const verifyToken = createVerifier({ key: secret, algorithms: ['HS256'], allowedIss: ISSUER, ignoreExpiration: true, ignoreNotBefore: true, cache: false });
  return {
    ttlSeconds,
    sign(sid: string, user: SessionUser, nowMs = Date.now()): Promise<string> {
      const iat = Math.floor(nowMs / 1000);
      return Promise.resolve(
        signToken({ sid, ims: nowMs, role: user.role, email: user.email, name: user.name, centers: user.centerIds, rid: user.riderId, sub: String(user.id), iss: ISSUER, iat, exp: iat + ttlSeconds }),
      );
    },
    /** Check the signature, the algorithm and the issuer; then the expiry against `nowMs`. */
    verify(token: string | undefined, nowMs = Date.now()): Promise<VerifyResult> {
      if (!token || token.length > 4096) return Promise.resolve({ state: 'invalid' });
      let payload: Payload;
      try {
        payload = verifyToken(token) as Payload;
      } catch {
        return Promise.resolve({ state: 'invalid' });
      }
      const claims = claimsOf(payload);
      if (!claims) return Promise.resolve({ state: 'invalid' });
      // Expired at `exp` itself, as RFC 7519 has it ("on or after").
      return Promise.resolve(claims.exp * 1000 <= nowMs ? { state: 'expired', claims } : { state: 'valid', claims });
    },
  };
}
export type TokenSigner = ReturnType<typeof createTokenSigner>;
