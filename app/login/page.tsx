'use client';
import { useState, type FormEvent } from 'react';
import type { ErrorBody, SessionUser } from '@/protocol';
import { safeNextPath } from '../lib/safe-next';
import { HOME_BY_ROLE } from '../lib/session';

/** Only paths of this site are followed after sign-in. */
function safeNext(user: SessionUser): string {
  return safeNextPath(new URLSearchParams(window.location.search).get('next'), window.location.origin) ?? HOME_BY_ROLE[user.role];
}

export default function LoginPage() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const res = await fetch('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ email: form.get('email'), password: form.get('password') }),
      });
      const body = (await res.json()) as { user: SessionUser } | { error: ErrorBody };
      if ('error' in body) {
        setError(body.error.code === 'bad_request' ? 'Enter an email address and a password.' : body.error.message);
        return;
      }
      window.location.replace(safeNext(body.user));
    } catch {
      setError('The server cannot be reached. Check your connection and try again.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Dispatch Desk</h1>
        <p className="muted">Sign in to continue</p>
        <label>
          Email
          <input name="email" type="email" autoComplete="username" required autoFocus data-testid="login-email" />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required data-testid="login-password" />
        </label>
        {error && (
          <p className="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
