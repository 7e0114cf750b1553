'use client';
import { useEffect, useState } from 'react';
import { useDeliveries } from '../lib/store-context';

const LABEL = { connecting: 'Connecting…', live: 'Live', offline: 'Offline' } as const;

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ago` : `${Math.floor(m / 60)}h ago`;
}

/** Honest connection state, and how fresh the list is. */
export function ConnectionBadge() {
  const connection = useDeliveries((s) => s.connection);
  const lastChangeAt = useDeliveries((s) => s.lastChangeAt);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return (
    <div className="badge-wrap">
      <span className={`badge badge-${connection}`} data-testid="connection-badge" data-state={connection} role="status">
        <span className="dot" aria-hidden /> {LABEL[connection]}
      </span>
      <span className="freshness" data-testid="freshness">
        {lastChangeAt ? `last change ${ago(now - lastChangeAt)}` : 'no changes yet'}
      </span>
    </div>
  );
}
