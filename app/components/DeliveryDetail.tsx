'use client';
import { useEffect, useState } from 'react';
import type { DeliveryRow, DeliveryTimelineEntry } from '@/protocol';
import { request, type DispatchSocket } from '../lib/socket';
import { STATUS_LABEL } from './StatusCounters';

const time = (iso: string | null) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '—');

/** The selected delivery and its timeline (reloaded whenever the row's version moves). */
export function DeliveryDetail({ row, socket, late, onAssign }: { row: DeliveryRow; socket: DispatchSocket | null; late: boolean; onAssign: () => void }) {
  const [timeline, setTimeline] = useState<DeliveryTimelineEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!socket) return;
    let alive = true;
    request(socket, 'delivery:timeline', { deliverySeq: row.deliverySeq })
      .then((t) => alive && (setTimeline(t), setError(null)))
      .catch((e: Error) => alive && setError(e.message));
    return () => {
      alive = false;
    };
  }, [socket, row.deliverySeq, row.version]);

  const assignable = row.status === 'waiting' || row.status === 'assigned';
  return (
    <section className="detail" data-testid="delivery-detail" aria-label={`Delivery ${row.deliverySeq}`}>
      <header className="detail-head">
        <h2>
          #{row.deliverySeq} <span className={`pill status-${row.status}`}>{STATUS_LABEL[row.status]}</span>
          {late && <span className="pill late-pill">Late</span>}
        </h2>
        {assignable && (
          <button type="button" className="btn primary" onClick={onAssign} data-testid="detail-assign" aria-keyshortcuts="a">
            {row.riderId ? 'Reassign' : 'Assign'} <kbd>A</kbd>
          </button>
        )}
      </header>
      <dl className="facts">
        <dt>Order</dt>
        <dd>{row.orderNo}</dd>
        <dt>Shop</dt>
        <dd>
          {row.shopName}, {row.shopAddress}
        </dd>
        <dt>Drop-off</dt>
        <dd>{row.address}</dd>
        <dt>Rider</dt>
        <dd data-testid="detail-rider">{row.riderName ?? 'not assigned'}</dd>
      </dl>
      <h3>Timeline</h3>
      {error && <p className="form-error">{error}</p>}
      <ol className="timeline" data-testid="timeline">
        {(timeline ?? []).map((e) => (
          <li key={e.id} data-type={e.type}>
            <time>{time(e.at)}</time> <strong>{e.type.replace('_', ' ')}</strong> <span className="muted">by {e.actorLabel}</span>
            {e.note && <span className="muted"> — {e.note}</span>}
          </li>
        ))}
        {timeline === null && !error && <li className="muted">Loading…</li>}
      </ol>
    </section>
  );
}
