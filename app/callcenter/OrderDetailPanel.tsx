'use client';
import { useEffect, useState } from 'react';
import type { DeliveryRow, OrderRow } from '@/protocol';
import { effectiveOrderStatus, type OrderDetail } from '../lib/callcenter';
import { CancelOrder } from './CancelOrder';
import type { DetailState } from './detail-state';
import { DELIVERY_STATUS_LABEL, ago, formatWon, longTime, minutesBetween } from './format';
import { StatusPill } from './ResultsList';

function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

function CancelBanner({ order, delivery, live }: { order: OrderRow; delivery: DeliveryRow | null; live: boolean }) {
  const now = useNow(5000);
  const at = order.cancelledAt ?? delivery?.cancelledAt ?? order.modDate;
  return (
    <div className={`cc-banner${live ? ' cc-banner-live' : ''}`} role="alert" data-testid="cancel-banner" data-live={live}>
      <strong className="cc-banner-title">{live ? 'This order was just cancelled' : 'This order is cancelled'}</strong>
      <span className="cc-banner-reason" data-testid="cancel-reason">
        Reason: {order.cancelReason ?? (order.status === 'cancelled' ? 'none given' : 'arriving…')}
      </span>
      <span className="cc-banner-time">
        at <time dateTime={at}>{longTime(at)}</time> ({ago(at, now)})
      </span>
    </div>
  );
}

function Time({ label, iso, testId }: { label: string; iso: string | null | undefined; testId: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={testId}>{iso ? <time dateTime={iso}>{longTime(iso)}</time> : <span className="cc-muted">—</span>}</dd>
    </>
  );
}

interface Props {
  state: DetailState;
  onClose: () => void;
  onCancelled: (detail: OrderDetail) => void;
}

/** Everything an agent needs while the customer is on the line. */
export function OrderDetailPanel({ state, onClose, onCancelled }: Props) {
  const { order, delivery } = state;
  const head = (
    <header className="cc-detail-head">
      <h2>
        <span className="cc-muted">Order</span> {state.orderNo}
      </h2>
      {order && <StatusPill status={effectiveOrderStatus(order, delivery)} testId="cc-order-status" />}
      {order && state.loaded && !state.watched && (
        <span className="cc-stale" title="Changes to this order are not arriving until the connection is back; it is refreshed then.">
          not live: last known state
        </span>
      )}
      <button type="button" className="cc-close" onClick={onClose} aria-label="Close the order (Esc)" title="Close (Esc)" data-testid="cc-close">
        ×
      </button>
    </header>
  );

  if (!order) {
    return (
      <section className="cc-detail" data-testid="cc-detail" data-order-no={state.orderNo} aria-busy={!state.error}>
        {head}
        {state.error ? (
          <p className="cc-form-error" role="alert" data-testid="cc-detail-error">
            {state.error}
          </p>
        ) : (
          <p className="cc-muted">Loading the order…</p>
        )}
      </section>
    );
  }

  const status = effectiveOrderStatus(order, delivery);
  const finishedAt = status === 'cancelled' ? (order.cancelledAt ?? delivery?.cancelledAt) : delivery?.deliveredAt;
  return (
    <section
      className="cc-detail"
      data-testid="cc-detail"
      data-order-no={order.orderNo}
      data-watching={state.watched}
      aria-label={`Order ${order.orderNo}`}
    >
      {head}
      {status === 'cancelled' && <CancelBanner order={order} delivery={delivery} live={state.cancelledLiveAt !== null} />}
      {state.error && (
        <p className="cc-form-error" role="alert" data-testid="cc-detail-error">
          {state.error}
        </p>
      )}
      <div className="cc-detail-grid">
        <div className="cc-card">
          <h3>Customer</h3>
          <p className="cc-big" data-testid="cc-customer">{order.customerName}</p>
          <p>{order.customerPhone ?? <span className="cc-muted">no phone on file</span>}</p>
          <p data-testid="cc-address">{order.customerAddress}</p>
        </div>
        <div className="cc-card">
          <h3>Order</h3>
          <p data-testid="cc-items">{order.items}</p>
          <p className="cc-big" data-testid="cc-total">{formatWon(order.totalWon)}</p>
          <p>
            <span className="cc-muted">Shop</span> <span data-testid="cc-shop">{order.shopName}</span>
            {delivery && <span className="cc-muted"> · {delivery.shopAddress}</span>}
          </p>
        </div>
        <div className="cc-card">
          <h3>Delivery</h3>
          {delivery ? (
            <>
              <p aria-live="polite">
                <span className={`cc-pill cc-d-${delivery.status}`} data-testid="cc-delivery-status" data-status={delivery.status} data-version={delivery.version}>
                  {DELIVERY_STATUS_LABEL[delivery.status]}
                </span>
              </p>
              <p>
                <span className="cc-muted">Rider</span> <span data-testid="cc-rider">{delivery.riderName ?? (delivery.status === 'waiting' ? 'not assigned yet' : 'none')}</span>
              </p>
              <p className="cc-muted">Delivery #{delivery.deliverySeq}</p>
            </>
          ) : (
            <p className="cc-muted" data-testid="cc-delivery-status" data-status="none">
              {state.loaded ? 'No delivery for this order' : 'Loading…'}
            </p>
          )}
        </div>
        <div className="cc-card">
          <h3>Times</h3>
          <dl className="cc-times">
            <Time label="Created" iso={order.createdAt} testId="cc-t-created" />
            <Time label="Rider assigned" iso={delivery?.assignedAt} testId="cc-t-assigned" />
            <Time label="Picked up" iso={delivery?.pickedUpAt} testId="cc-t-picked" />
            {status === 'cancelled' ? (
              <Time label="Cancelled" iso={order.cancelledAt ?? delivery?.cancelledAt} testId="cc-t-cancelled" />
            ) : (
              <Time label="Delivered" iso={delivery?.deliveredAt} testId="cc-t-delivered" />
            )}
          </dl>
          {finishedAt && <p className="cc-muted">{minutesBetween(order.createdAt, finishedAt)} min after the order</p>}
        </div>
      </div>
      <CancelOrder key={order.orderNo} orderNo={order.orderNo} customerName={order.customerName} status={status} onCancelled={onCancelled} />
    </section>
  );
}
