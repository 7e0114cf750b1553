'use client';
import { useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { RiderPosition, RiderRow } from '@/protocol';

const ago = (iso: string | null, now: number) => {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : `${Math.floor(s / 60)}m ago`;
};

/** The center's riders (virtualized), idle first. */
export function RiderPanel({ riders, loadOf, positions, now }: { riders: RiderRow[]; loadOf: (id: number) => number; positions: ReadonlyMap<number, RiderPosition>; now: number }) {
  const ref = useRef<HTMLDivElement>(null);
  // The virtualizer changes in place, so the React Compiler must (and does) leave this component
  // unmemoized; that skip is what we want (TanStack/virtual#1119), not a defect to fix here.
  // eslint-disable-next-line react-hooks/incompatible-library
  const v = useVirtualizer({ count: riders.length, getScrollElement: () => ref.current, estimateSize: () => 40, overscan: 6, getItemKey: (i) => riders[i]?.id ?? i });
  return (
    <div ref={ref} className="rider-list" data-testid="rider-list" tabIndex={0} aria-label="Riders">
      <div style={{ height: v.getTotalSize(), position: 'relative' }}>
        {v.getVirtualItems().map((item) => {
          const r = riders[item.index];
          if (!r) return null;
          return (
            <div key={item.key} className="rider-row" style={{ transform: `translateY(${item.start}px)` }} data-testid={`rider-row-${r.id}`} data-status={r.status}>
              <span className={`rider-dot rider-${r.status}`} aria-hidden />
              <span className="rr-name">{r.name}</span>
              <span className="rr-status">{r.status}</span>
              <span className="rr-load">{loadOf(r.id)} active</span>
              <span className="rr-seen muted">{ago(positions.get(r.id)?.at ?? r.lastSeenAt, now)}</span>
            </div>
          );
        })}
      </div>
    </div>
  );
}
