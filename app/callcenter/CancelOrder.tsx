'use client';
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { OrderStatus } from '@/protocol';
import { describeCancelError, newIdempotencyKey, type OrderDetail } from '../lib/callcenter';
import { postJson } from '../lib/http';
import { ORDER_STATUS_LABEL } from './format';

const QUICK_REASONS = ['Customer changed their mind', 'Ordered by mistake', 'Taking too long', 'Wrong address'];

type Phase = { name: 'idle' } | { name: 'confirm'; key: string } | { name: 'sending'; key: string };

interface Props {
  orderNo: string;
  customerName: string;
  status: OrderStatus;
  onCancelled: (detail: OrderDetail) => void;
}

/** "Cancel order" on the customer's behalf: reason, then an explicit confirmation. */
export function CancelOrder({ orderNo, customerName, status, onCancelled }: Props) {
  const [phase, setPhase] = useState<Phase>({ name: 'idle' });
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const reasonRef = useRef<HTMLInputElement>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  const final = status === 'cancelled' || status === 'delivered';

  // The order finished elsewhere while the agent was still deciding: nothing left to cancel
  // (state adjusted while rendering, so the stale confirmation never paints).
  if (final && phase.name === 'confirm') {
    setPhase({ name: 'idle' });
    setNote(`The order is now ${ORDER_STATUS_LABEL[status].toLowerCase()}; there is nothing left to cancel.`);
  }

  useEffect(() => {
    if (phase.name === 'confirm') reasonRef.current?.focus();
  }, [phase.name]);

  function back() {
    setPhase({ name: 'idle' });
    setError(null);
    openRef.current?.focus();
  }

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (phase.name !== 'confirm' || !reason.trim()) return;
    const key = phase.key;
    setPhase({ name: 'sending', key });
    setError(null);
    try {
      const body = await postJson<OrderDetail>(`/api/orders/${encodeURIComponent(orderNo)}/cancel`, { reason: reason.trim() }, { 'idempotency-key': key });
      onCancelled({ order: body.order, delivery: body.delivery });
      setPhase({ name: 'idle' });
    } catch (err) {
      setError(describeCancelError(err));
      // Same attempt, same key: a retry after a lost answer cannot cancel twice.
      setPhase({ name: 'confirm', key });
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLFormElement>) {
    if (e.key === 'Escape' && phase.name === 'confirm') {
      e.preventDefault();
      e.stopPropagation();
      back();
    }
  }

  if (phase.name === 'idle') {
    return (
      <div className="cc-cancel-area">
        <button
          ref={openRef}
          type="button"
          className="cc-btn cc-btn-danger"
          data-testid="cc-cancel"
          disabled={final}
          onClick={() => {
            setPhase({ name: 'confirm', key: newIdempotencyKey() });
            setError(null);
            setNote(null);
          }}
        >
          Cancel order…
        </button>
        {(note ?? final) && (
          <span className="cc-muted" data-testid="cc-cancel-note">
            {note ?? (status === 'delivered' ? 'Delivered orders cannot be cancelled.' : 'This order is already cancelled.')}
          </span>
        )}
        {error && (
          <p className="cc-form-error" role="alert" data-testid="cc-cancel-error">
            {error}
          </p>
        )}
      </div>
    );
  }

  const sending = phase.name === 'sending';
  return (
    <form className="cc-cancel-form" onSubmit={(e) => void submit(e)} onKeyDown={onKeyDown} aria-label="Cancel this order" data-testid="cc-cancel-form">
      <p className="cc-cancel-q">
        Cancel order <strong>{orderNo}</strong> for {customerName}? The shop and rider are told at once; this cannot be undone.
      </p>
      <label className="cc-field">
        Reason (told to the dispatcher)
        <input
          ref={reasonRef}
          value={reason}
          maxLength={200}
          onChange={(e) => setReason(e.target.value)}
          placeholder="e.g. Customer changed their mind"
          data-testid="cc-cancel-reason"
          disabled={sending}
          required
        />
      </label>
      <div className="cc-quick" role="group" aria-label="Common reasons">
        {QUICK_REASONS.map((r) => (
          <button key={r} type="button" className="cc-chip" disabled={sending} onClick={() => setReason(r)}>
            {r}
          </button>
        ))}
      </div>
      {error && (
        <p className="cc-form-error" role="alert" data-testid="cc-cancel-error">
          {error}
        </p>
      )}
      <div className="cc-cancel-actions">
        <button type="submit" className="cc-btn cc-btn-danger" disabled={sending || !reason.trim()} data-testid="cc-cancel-confirm">
          {sending ? 'Cancelling…' : 'Yes, cancel the order'}
        </button>
        <button type="button" className="cc-btn" onClick={back} disabled={sending} data-testid="cc-cancel-back">
          Keep the order (Esc)
        </button>
      </div>
    </form>
  );
}
