import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTokenSigner } from '../../server/auth/tokens';
import type { SessionUser } from '../../protocol';

const SECRET = 'a-session-secret-of-at-least-32-characters';
const user: SessionUser = { id: 7, email: 'd@demo.local', name: 'Dee', role: 'dispatcher', centerIds: [1, 2], riderId: null };

const b64 = (x: unknown) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
/** A token made by hand: any header, any claims, signed with any key and HMAC. */
function handMade(header: object, claims: object, key = SECRET, hash = 'sha256'): string {
  const head = `${b64(header)}.${b64(claims)}`;
  return `${head}.${createHmac(hash, key).update(head).digest('base64url')}`;
}

describe('session tokens', () => {
  const signer = createTokenSigner(SECRET, 900);
  const t0 = Date.UTC(2026, 11, 2, 12, 0, 0);

  it('round-trips the session and the user, valid until the expiry and expired (with claims) from it', async () => {
    const token = await signer.sign('sid-1', user, t0);
    const valid = await signer.verify(token, t0 + 1000);
    expect(valid).toEqual({ state: 'valid', claims: { sid: 'sid-1', user, issuedAtMs: t0, exp: t0 / 1000 + 900 } });
    expect((await signer.verify(token, t0 + 899_999)).state).toBe('valid');
    const expired = await signer.verify(token, t0 + 900_000);
    expect(expired).toEqual({ state: 'expired', claims: { sid: 'sid-1', user, issuedAtMs: t0, exp: t0 / 1000 + 900 } });
  });

  it('refuses a token signed with another key, tampered with, or of another algorithm or issuer', async () => {
    const token = await signer.sign('sid-1', user, t0);
    const [head, body, sig] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const bad = [
      await createTokenSigner('another-secret-of-at-least-32-characters!!', 900).sign('sid-1', user, t0),
      `${head}.${b64({ ...claims, role: 'hq' })}.${sig}`, // promoted itself, old signature
      `${b64({ alg: 'none', typ: 'JWT' })}.${body}.`,
      `${b64({ alg: 'none', typ: 'JWT' })}.${body}.${sig}`,
      handMade({ alg: 'HS512', typ: 'JWT' }, claims, SECRET, 'sha512'),
      handMade({ alg: 'HS256', typ: 'JWT' }, { ...claims, iss: 'someone-else' }),
      handMade({ alg: 'HS256', typ: 'JWT' }, { ...claims, sid: 42 }), // well signed, malformed claims
      'not.a.token',
      '',
      undefined,
      `${token}x`,
      'a'.repeat(5000),
    ];
    for (const b of bad) expect((await signer.verify(b, t0 + 1000)).state, String(b).slice(0, 60)).toBe('invalid');
    // The same hand-made way with the right key and claims is accepted: the refusals above are for their flaw.
    expect((await signer.verify(handMade({ alg: 'HS256', typ: 'JWT' }, claims), t0 + 1000)).state).toBe('valid');
  });
});
