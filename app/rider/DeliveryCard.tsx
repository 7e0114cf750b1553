'use client';
import { memo, useEffect, useState } from 'react';
import type { DeliveryRow, DeliveryStatus } from '@/protocol';
import type { RiderActionKind } from '../lib/action-queue';
import type { ActionPhase } from './use-rider-dispatch';

export const RIDER_STATUS_LABEL: Record<DeliveryStatus, string> = {
  waiting: 'Waiting',
  assigned: 'Assigned',
  picked_up: 'Picked up',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
};

export const ACTION_LABEL: Record<RiderActionKind, string> = { pick_up: 'Picked up', deliver: 'Delivered' };

/** What the card says about the rider's last action on it. */
export interface CardAction {
  phase: ActionPhase;
  text: string;
}

export function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '—';
}

export function ActionState({ action }: { action: CardAction }) {
  return (
    <p className={`rider-action-state rider-action-${action.phase}`} data-testid="action-state" data-state={action.phase} role="status">
      <span className="rider-action-icon" aria-hidden>
        {action.phase === 'pending' ? <span className="rider-spinner" /> : action.phase === 'queued' ? '◷' : action.phase === 'confirmed' ? '✓' : '⚠'}
      </span>
      {action.text}
    </p>
  );
}

interface Props {
  row: DeliveryRow;
  /** The status the row will have once the rider's queued actions are through. */
  projected: DeliveryStatus;
  action: CardAction | null;
  /** An action of this card is on its way and unanswered. */
  inFlight: boolean;
  onAct: (kind: RiderActionKind, deliverySeq: number) => void;
  onDismiss: (deliverySeq: number) => void;
}

/** One delivery the rider is working on: where to pick up, where to go, and the next step. */
export const DeliveryCard = memo(function DeliveryCard({ row, projected, action, inFlight, onAct, onDismiss }: Props) {
  // A short pause after a tap, so a double tap does not also hit the next button in the same place.
  const [cooldown, setCooldown] = useState(false);
  useEffect(() => {
    if (!cooldown) return;
    const t = setTimeout(() => setCooldown(false), 800);
    return () => clearTimeout(t);
  }, [cooldown]);

  const next: RiderActionKind | null = projected === 'assigned' ? 'pick_up' : projected === 'picked_up' ? 'deliver' : null;
  const titleId = `rider-card-title-${row.deliverySeq}`;
  const finished = row.status === 'delivered' || row.status === 'cancelled';
  return (
    <article
      className={`rider-card rider-status-${row.status}`}
      data-testid={`rider-delivery-${row.deliverySeq}`}
      data-status={row.status}
      data-version={row.version}
      aria-labelledby={titleId}
    >
      <header className="rider-card-head">
        <h3 id={titleId} className="rider-card-title">
          {row.shopName}
        </h3>
        <span className={`rider-pill rider-pill-${row.status}`} data-testid="rider-status">
          {RIDER_STATUS_LABEL[row.status]}
        </span>
      </header>
      <dl className="rider-card-facts">
        <div>
          <dt>Pick up at</dt>
          <dd>{row.shopAddress}</dd>
        </div>
        <div>
          <dt>Deliver to</dt>
          <dd className="rider-strong">{row.address}</dd>
        </div>
        <div className="rider-card-meta">
          <dt>Order</dt>
          <dd>
            <span className="rider-mono">{row.orderNo}</span> · #{row.deliverySeq}
            {row.pickedUpAt ? ` · picked up ${time(row.pickedUpAt)}` : row.assignedAt ? ` · assigned ${time(row.assignedAt)}` : ''}
          </dd>
        </div>
      </dl>
      {row.status === 'cancelled' && <p className="rider-card-note">The center cancelled this delivery. Do not deliver it.</p>}
      {next === 'pick_up' && (
        <button
          type="button"
          className="rider-btn rider-btn-pickup"
          data-testid={`action-pickup-${row.deliverySeq}`}
          disabled={inFlight || cooldown}
          onClick={() => {
            setCooldown(true);
            onAct('pick_up', row.deliverySeq);
          }}
        >
          Picked up
        </button>
      )}
      {next === 'deliver' && (
        <button
          type="button"
          className="rider-btn rider-btn-deliver"
          data-testid={`action-deliver-${row.deliverySeq}`}
          disabled={inFlight || cooldown}
          onClick={() => {
            setCooldown(true);
            onAct('deliver', row.deliverySeq);
          }}
        >
          Delivered
        </button>
      )}
      {action && <ActionState action={action} />}
      {(finished || action?.phase === 'error') && (
        <button type="button" className="rider-btn-quiet" onClick={() => onDismiss(row.deliverySeq)} data-testid={`dismiss-${row.deliverySeq}`}>
          Dismiss
        </button>
      )}
    </article>
  );
});
