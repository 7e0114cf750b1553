'use client';
import { useEffect, useState } from 'react';

export type CcLink = 'connecting' | 'live' | 'reconnecting';

const LABEL: Record<CcLink, string> = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };
const TITLE: Record<CcLink, string> = {
  connecting: 'Opening the live connection',
  live: 'Cancellations and delivery changes of the open order arrive as they happen',
  reconnecting: 'The live connection dropped: changes are not arriving. Retrying; the open order is refreshed once back.',
};

function secondsSince(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
}

/** Honest connection state of the page's /callcenter socket. */
export function CcConnection({ link, downSince, lastReconnectAt }: { link: CcLink; downSince: number | null; lastReconnectAt: number | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return (
    <div className="cc-conn-wrap">
      <span className={`cc-conn cc-conn-${link}`} data-testid="cc-connection" data-state={link} role="status" title={TITLE[link]}>
        <span className="cc-dot" aria-hidden /> {LABEL[link]}
      </span>
      <span className="cc-conn-note">
        {link === 'reconnecting' && downSince !== null && `offline for ${secondsSince(downSince, now)}, updates paused`}
        {link === 'live' && lastReconnectAt !== null && now - lastReconnectAt < 60_000 && 'reconnected, order refreshed'}
      </span>
    </div>
  );
}
