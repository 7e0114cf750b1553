'use client';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { DeliveryRow, RiderRow } from '@/protocol';
import { rankRiders } from '../lib/rank-riders';
import { request, type DispatchSocket } from '../lib/socket';

interface Props {
  delivery: DeliveryRow;
  riders: RiderRow[];
  loadOf: (riderId: number) => number;
  positionOf: (rider: RiderRow) => { lat: number; lng: number } | null;
  socket: DispatchSocket;
  onClose: () => void;
  onAssigned: (row: DeliveryRow) => void;
}

/**
 * Assign or reassign a rider. It works only on the center's riders (tens, not thousands) and
 * the load counts handed to it, so it opens at once however many deliveries are live.
 * Keyboard: arrows move, Enter assigns, Esc closes.
 */
export function AssignDialog({ delivery, riders, loadOf, positionOf, socket, onClose, onAssigned }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const ranked = useMemo(() => rankRiders(riders, delivery, loadOf, positionOf), [riders, delivery, loadOf, positionOf]);
  const [active, setActive] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    listRef.current?.focus();
  }, []);

  async function assign(riderId: number) {
    setBusy(true);
    setError(null);
    try {
      const row = await request(socket, 'delivery:assign', { deliverySeq: delivery.deliverySeq, riderId, expectedVersion: delivery.version });
      onAssigned(row);
      onClose();
    } catch (e) {
      const err = e as Error & { code?: string };
      setError(err.code === 'conflict' ? 'Someone changed this delivery just now. Its latest state is shown; try again.' : err.message);
    } finally {
      setBusy(false);
    }
  }

  const choose = (i: number) => {
    const r = ranked[i];
    if (r && r.rider.status !== 'off' && r.rider.id !== delivery.riderId) void assign(r.rider.id);
  };

  return (
    <dialog
      ref={ref}
      className="assign-dialog"
      data-testid="assign-dialog"
      aria-labelledby="assign-title"
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header>
        <h2 id="assign-title">
          {delivery.riderId ? 'Reassign' : 'Assign'} #{delivery.deliverySeq} · {delivery.shopName}
        </h2>
        <p className="muted">
          to {delivery.address}
          {delivery.riderName ? ` · now with ${delivery.riderName}` : ''}
        </p>
      </header>
      {error && (
        <p className="form-error" role="alert" data-testid="assign-error">
          {error}
        </p>
      )}
      <ul
        ref={listRef}
        className="rider-choices"
        role="listbox"
        tabIndex={0}
        aria-label="Riders, best first"
        aria-activedescendant={ranked[active] ? `choice-${ranked[active].rider.id}` : undefined}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') setActive((i) => Math.min(i + 1, ranked.length - 1));
          else if (e.key === 'ArrowUp') setActive((i) => Math.max(i - 1, 0));
          else if (e.key === 'Enter') choose(active);
          else return;
          e.preventDefault();
        }}
      >
        {ranked.map((r, i) => {
          const current = r.rider.id === delivery.riderId;
          return (
            <li
              key={r.rider.id}
              id={`choice-${r.rider.id}`}
              role="option"
              aria-selected={i === active}
              aria-disabled={r.rider.status === 'off' || current}
              className={`rider-choice${i === active ? ' active' : ''}`}
              data-testid={`assign-rider-${r.rider.id}`}
              onMouseMove={() => i !== active && setActive(i)}
              onClick={() => choose(i)}
            >
              <span className={`rider-dot rider-${r.rider.status}`} aria-hidden />
              <span className="rc-name">{r.rider.name}</span>
              <span className="rc-status">{current ? 'current' : r.rider.status}</span>
              <span className="rc-dist">{r.distanceKm === null ? '—' : `${r.distanceKm.toFixed(1)} km`}</span>
              <span className="rc-load">{r.load} active</span>
            </li>
          );
        })}
      </ul>
      <footer>
        <button type="button" className="btn" onClick={onClose} disabled={busy}>
          Close
        </button>
      </footer>
    </dialog>
  );
}
