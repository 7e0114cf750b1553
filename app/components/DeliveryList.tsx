'use client';
import { memo, useEffect, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { isActive, isAwaitingShopAck, type DeliveryRow } from '@/protocol';
import { isLateAt, lateCutoffMs, type RowList } from '../lib/board';
import { STATUS_LABEL } from './StatusCounters';

const ROW_HEIGHT = 44;

function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '—';
}

interface RowProps {
  row: DeliveryRow;
  top: number;
  selected: boolean;
  late: boolean;
  /** The shop's device has not acknowledged the order in time. */
  unacked: boolean;
  /** Every device of the row's shop is offline. */
  shopOffline: boolean;
  onSelect: (seq: number) => void;
  onAssign: (seq: number) => void;
}

/**
 * One row. Memoized: the store replaces a row object only when the merge rule accepts a newer
 * (modDate, version), so unchanged rows never re-render.
 */
const Row = memo(function Row({ row, top, selected, late, unacked, shopOffline, onSelect, onAssign }: RowProps) {
  const assignable = row.status === 'waiting' || row.status === 'assigned';
  return (
    <div
      role="row"
      aria-selected={selected}
      className={`row status-${row.status}${selected ? ' selected' : ''}${late ? ' late' : ''}`}
      style={{ transform: `translateY(${top}px)` }}
      data-testid={`delivery-row-${row.deliverySeq}`}
      data-status={row.status}
      data-version={row.version}
      data-late={late || undefined}
      data-shop-unacked={unacked || undefined}
      onClick={() => onSelect(row.deliverySeq)}
    >
      <span role="cell" className="c-seq">#{row.deliverySeq}</span>
      <span role="cell" className="c-time">
        {time(row.createdAt)}
        {late && <span className="late-tag" title="Late">late</span>}
      </span>
      <span role="cell" className="c-shop" title={row.shopAddress}>
        {row.shopName}
        {unacked && <span className="shop-tag" data-testid="shop-unacked" title="The shop's device has not confirmed this order">not received</span>}
        {shopOffline && <span className="shop-tag" data-testid="shop-offline" title="All of this shop's devices are offline">shop offline</span>}
      </span>
      <span role="cell" className="c-addr" title={row.address}>{row.address}</span>
      <span role="cell" className="c-rider">{row.riderName ?? '—'}</span>
      <span role="cell" className="c-status">
        <span className={`pill status-${row.status}`} data-testid="row-status">{STATUS_LABEL[row.status]}</span>
      </span>
      <span role="cell" className="c-action">
        {assignable && (
          <button
            type="button"
            className="btn small"
            tabIndex={-1}
            data-testid={`assign-button-${row.deliverySeq}`}
            onClick={(e) => {
              e.stopPropagation();
              onAssign(row.deliverySeq);
            }}
          >
            {row.riderId ? 'Reassign' : 'Assign'}
          </button>
        )}
      </span>
    </div>
  );
});

interface ListProps {
  rows: RowList;
  selectedSeq: number | null;
  lateAfterMinutes: number;
  /** Current time, ticking slowly, for the late marks. */
  now: number;
  /** Shops whose devices are all offline. */
  offlineShops?: ReadonlySet<number>;
  onSelect: (seq: number) => void;
  onAssign: (seq: number) => void;
  /**
   * Render every row instead of the visible ones: a diagnostic mode (`?list=all`) that the
   * live-list benchmark compares against; nobody should use it with thousands of rows.
   */
  renderAll?: boolean;
}

/** Virtualized: only the visible rows (plus a few) are in the DOM, whatever the list length. */
export function DeliveryList({ rows, selectedSeq, lateAfterMinutes, now, offlineShops, onSelect, onAssign, renderAll = false }: ListProps) {
  const parentRef = useRef<HTMLDivElement>(null);
  // The virtualizer changes in place, so the React Compiler must (and does) leave this component
  // unmemoized; that skip is what we want (TanStack/virtual#1119), not a defect to fix here.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parentRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
    // No getItemKey: rows have one fixed height, so the virtualizer needs no keys, and a key
    // function closing over `rows` (a new array on every change) made it rebuild its measurements
    // of every row on every render. React keys the rendered rows by deliverySeq below.
  });
  const lateBeforeMs = lateCutoffMs(now, lateAfterMinutes);
  const selectedIndex = selectedSeq === null ? -1 : rows.indexOf(selectedSeq);
  useEffect(() => {
    // Scroll only when the selected row is out of view: a click on a visible row (or its Assign
    // button) must not pay for the virtualizer's scroll, which reads layout. Rows have one fixed
    // height, and the virtualizer keeps the scroll offset and viewport size it last saw.
    if (selectedIndex < 0) return;
    const top = selectedIndex * ROW_HEIGHT;
    const offset = virtualizer.scrollOffset ?? 0;
    const height = virtualizer.scrollRect?.height ?? 0;
    if (top >= offset && top + ROW_HEIGHT <= offset + height) return;
    virtualizer.scrollToIndex(selectedIndex, { align: 'auto' });
  }, [selectedIndex, virtualizer]);

  return (
    <div className="list" role="table" aria-label="Deliveries" aria-rowcount={rows.length}>
      <div role="row" className="row head">
        <span role="columnheader" className="c-seq">Seq</span>
        <span role="columnheader" className="c-time">Created</span>
        <span role="columnheader" className="c-shop">Shop</span>
        <span role="columnheader" className="c-addr">Address</span>
        <span role="columnheader" className="c-rider">Rider</span>
        <span role="columnheader" className="c-status">Status</span>
        <span role="columnheader" className="c-action"><span className="sr-only">Action</span></span>
      </div>
      <div ref={parentRef} className="list-scroll" data-testid="delivery-list" tabIndex={0} aria-label="Deliveries list: arrow keys move, A assigns">
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {(renderAll
            ? Array.from({ length: rows.length }, (_, i) => ({ row: rows.at(i), top: i * ROW_HEIGHT }))
            : virtualizer.getVirtualItems().map((item) => ({ row: rows.at(item.index), top: item.start }))
          ).map(({ row, top }) =>
            row ? (
              <Row
                key={row.deliverySeq}
                row={row}
                top={top}
                selected={row.deliverySeq === selectedSeq}
                late={isLateAt(row, lateBeforeMs)}
                unacked={isAwaitingShopAck(row, now)}
                shopOffline={row.shopId != null && isActive(row.status) && (offlineShops?.has(row.shopId) ?? false)}
                onSelect={onSelect}
                onAssign={onAssign}
              />
            ) : null,
          )}
        </div>
      </div>
      {rows.length === 0 && <p className="empty">No deliveries match.</p>}
    </div>
  );
}
