'use client';
import { useEffect, useState } from 'react';
import type { Role, SessionUser } from '@/protocol';

/** Where each role starts after signing in. */
export const HOME_BY_ROLE: Record<Role, string> = {
  dispatcher: '/',
  hq: '/',
  rider: '/rider',
  callcenter: '/callcenter',
  admin: '/',
};

/** The signed-in user, or a redirect to /login when there is none. */
export function useSession(): SessionUser | null {
  const [user, setUser] = useState<SessionUser | null>(null);
  useEffect(() => {
    let alive = true;
    fetch('/api/auth/me', { credentials: 'same-origin' })
      .then(async (res) => {
        if (res.status === 401) {
          const next = encodeURIComponent(window.location.pathname + window.location.search);
          window.location.replace(`/login?next=${next}`);
          return;
        }
        const body = (await res.json()) as { user: SessionUser };
        if (alive) setUser(body.user);
      })
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, []);
  return user;
}

export async function logout(): Promise<void> {
  await fetch('/api/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: '{}' });
  window.location.replace('/login');
}
