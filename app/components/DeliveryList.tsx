'use client';
import { memo, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { DeliveryRow } from '@/protocol';
import { STATUS_LABEL } from './StatusCounters';

const ROW_HEIGHT = 44;

function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '—';
}

/**
 * One row. Memoized on the row object: the store replaces a row object only when the merge rule
 * accepts a newer (modDate, version), so unchanged rows never re-render.
 */
const Row = memo(function Row({ row, top }: { row: DeliveryRow; top: number }) {
  return (
    <div
      role="row"
      className={`row status-${row.status}`}
      style={{ transform: `translateY(${top}px)` }}
      data-testid={`delivery-row-${row.deliverySeq}`}
      data-status={row.status}
      data-version={row.version}
    >
      <span role="cell" className="c-seq">#{row.deliverySeq}</span>
      <span role="cell" className="c-time">{time(row.createdAt)}</span>
      <span role="cell" className="c-shop" title={row.shopAddress}>{row.shopName}</span>
      <span role="cell" className="c-addr" title={row.address}>{row.address}</span>
      <span role="cell" className="c-rider">{row.riderName ?? '—'}</span>
      <span role="cell" className="c-status">
        <span className={`pill status-${row.status}`} data-testid="row-status">{STATUS_LABEL[row.status]}</span>
      </span>
      <span role="cell" className="c-order">{row.orderNo}</span>
    </div>
  );
});

/** Virtualized: only the visible rows (plus a few) are in the DOM, whatever the list length. */
export function DeliveryList({ rows }: { rows: readonly DeliveryRow[] }) {
  const parentRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parentRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
    getItemKey: (i) => rows[i]?.deliverySeq ?? i,
  });
  return (
    <div className="list" role="table" aria-label="Deliveries" aria-rowcount={rows.length}>
      <div role="row" className="row head">
        <span role="columnheader" className="c-seq">Seq</span>
        <span role="columnheader" className="c-time">Created</span>
        <span role="columnheader" className="c-shop">Shop</span>
        <span role="columnheader" className="c-addr">Address</span>
        <span role="columnheader" className="c-rider">Rider</span>
        <span role="columnheader" className="c-status">Status</span>
        <span role="columnheader" className="c-order">Order</span>
      </div>
      <div ref={parentRef} className="list-scroll" data-testid="delivery-list" tabIndex={0}>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index];
            return row ? <Row key={item.key} row={row} top={item.start} /> : null;
          })}
        </div>
      </div>
      {rows.length === 0 && <p className="empty">No deliveries match.</p>}
    </div>
  );
}
