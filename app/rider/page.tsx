'use client';
import { HOME_BY_ROLE, logout, useSession } from '../lib/session';
import { RiderScreen } from './RiderScreen';
import './rider.css';

/** /rider: the rider's phone screen. Other roles get a clear message and a way to their screen. */
export default function RiderPage() {
  const user = useSession();
  if (!user) {
    return (
      <main className="rider-shell rider-center" aria-busy="true">
        <p className="rider-empty">Loading…</p>
      </main>
    );
  }
  if (user.role !== 'rider' || user.riderId === null) {
    return (
      <main className="rider-shell rider-center">
        <div className="rider-notice" role="alert" data-testid="rider-not-rider">
          <h1 className="rider-h2">This screen is for riders</h1>
          <p>
            You are signed in as {user.name} ({user.role}
            {user.role === 'rider' ? ', but no rider profile is linked to this account' : ''}). Riders see their deliveries here.
          </p>
          <div className="rider-notice-actions">
            {HOME_BY_ROLE[user.role] !== '/rider' && (
              <a className="rider-btn rider-btn-link" href={HOME_BY_ROLE[user.role]}>
                Go to my screen
              </a>
            )}
            <button type="button" className="rider-btn-quiet" onClick={() => void logout()}>
              Sign in as someone else
            </button>
          </div>
        </div>
      </main>
    );
  }
  return <RiderScreen user={user} />;
}
