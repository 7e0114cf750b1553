'use client';
import { useEffect, useRef, type KeyboardEvent } from 'react';
import type { OrderRow, OrderStatus } from '@/protocol';
import { ORDER_STATUS_LABEL, formatWon, shortTime } from './format';

export const RESULTS_ID = 'cc-results';
export const optionId = (orderNo: string) => `cc-opt-${orderNo}`;

export function StatusPill({ status, testId }: { status: OrderStatus; testId?: string }) {
  return (
    <span className={`cc-pill cc-o-${status}`} data-testid={testId} data-status={status}>
      {ORDER_STATUS_LABEL[status]}
    </span>
  );
}

interface Props {
  rows: OrderRow[];
  active: number;
  openOrderNo: string | null;
  /** The open order's status as the detail knows it (fresher than the search answer). */
  openStatus: OrderStatus | null;
  onActivate: (index: number) => void;
  onOpen: (row: OrderRow) => void;
  onKeyDown: (e: KeyboardEvent<HTMLElement>) => void;
}

/** Search answers (at most 50 from the server), newest first; a listbox driven by the search box. */
export function ResultsList({ rows, active, openOrderNo, openStatus, onActivate, onOpen, onKeyDown }: Props) {
  const listRef = useRef<HTMLUListElement>(null);
  const activeNo = rows[active]?.orderNo;
  useEffect(() => {
    if (!activeNo) return;
    listRef.current?.querySelector(`[data-order-no="${CSS.escape(activeNo)}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [activeNo]);

  return (
    <ul
      ref={listRef}
      id={RESULTS_ID}
      className="cc-results"
      role="listbox"
      aria-label="Orders found"
      tabIndex={0}
      aria-activedescendant={activeNo ? optionId(activeNo) : undefined}
      onKeyDown={onKeyDown}
    >
      {rows.map((r, i) => {
        const status = r.orderNo === openOrderNo && openStatus ? openStatus : r.status;
        const cls = ['cc-result', i === active ? 'cc-active' : '', r.orderNo === openOrderNo ? 'cc-open' : '', `cc-row-${status}`].filter(Boolean).join(' ');
        return (
          <li
            key={r.orderNo}
            id={optionId(r.orderNo)}
            role="option"
            aria-selected={r.orderNo === openOrderNo}
            className={cls}
            data-testid="cc-result"
            data-order-no={r.orderNo}
            onMouseMove={() => i !== active && onActivate(i)}
            onClick={() => onOpen(r)}
          >
            <span className="cc-r-no">{r.orderNo}</span>
            <span className="cc-r-time">{shortTime(r.createdAt)}</span>
            <span className="cc-r-customer">
              {r.customerName}
              {r.customerPhone && <span className="cc-r-phone"> · {r.customerPhone}</span>}
            </span>
            <span className="cc-r-shop">{r.shopName}</span>
            <StatusPill status={status} />
            <span className="cc-r-total">{formatWon(r.totalWon)}</span>
          </li>
        );
      })}
    </ul>
  );
}
