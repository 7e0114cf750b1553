'use client';
import { DELIVERY_STATUSES, type DeliveryStatus } from '@/protocol';

export const STATUS_LABEL: Record<DeliveryStatus, string> = {
  waiting: 'Waiting',
  assigned: 'Assigned',
  picked_up: 'Picked up',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
};

export function StatusCounters({ counts }: { counts: Record<DeliveryStatus, number> }) {
  return (
    <ul className="counters" aria-label="Deliveries by status">
      {DELIVERY_STATUSES.map((s) => (
        <li key={s} className={`counter status-${s}`} data-testid={`count-${s}`}>
          <span className="counter-value">{counts[s]}</span>
          <span className="counter-label">{STATUS_LABEL[s]}</span>
        </li>
      ))}
    </ul>
  );
}
