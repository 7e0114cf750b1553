'use client';
import { useEffect, useState } from 'react';
import { useDeliveries } from '../lib/store-context';

const LABEL = { connecting: 'Connecting…', live: 'Live', offline: 'Reconnecting…', polling: 'Polling' } as const;
const TITLE = {
  connecting: 'Opening the live connection',
  live: 'Changes arrive as they happen',
  offline: 'The live connection dropped; retrying',
  polling: 'The live connection is down: the list is refreshed from the server every few seconds',
} as const;

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ago` : `${Math.floor(m / 60)}h ago`;
}

/** Honest connection state: live, reconnecting or polling; how fresh the list is; how the last reconnect went. */
export function ConnectionBadge() {
  const sync = useDeliveries((s) => s.sync);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const last = sync.lastReconnect;
  return (
    <div className="badge-wrap">
      <span className={`badge badge-${sync.link}`} data-testid="connection-badge" data-state={sync.link} role="status" title={TITLE[sync.link]}>
        <span className="dot" aria-hidden /> {LABEL[sync.link]}
      </span>
      <span className="freshness" data-testid="freshness">
        {sync.lastChangeAt ? `last change ${ago(now - sync.lastChangeAt)}` : 'no changes yet'}
        {last && (
          <span data-testid="last-reconnect" data-outcome={last.outcome}>
            {' · '}reconnected {ago(now - last.at)}, {last.outcome === 'recovered' ? 'nothing lost' : `resynced ${last.rows} rows`}
          </span>
        )}
      </span>
    </div>
  );
}
