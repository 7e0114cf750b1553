'use client';
import type { SessionUser } from '@/protocol';
import { logout } from '../lib/session';

/** Who is signed in, with Sign out: the same on every desktop screen. */
export function UserChip({ user, className = 'user-chip' }: { user: SessionUser; className?: string }) {
  return (
    <span className={className} data-testid="user-chip">
      {user.name}
      <button type="button" onClick={() => void logout()} data-testid="logout">
        Sign out
      </button>
    </span>
  );
}
