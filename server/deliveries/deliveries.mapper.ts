import type { DeliveryRow } from '../../protocol';
import type { Delivery, Rider } from '../db/generated/client';

export type DeliveryWithRider = Delivery & { rider: Pick<Rider, 'name'> | null };

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Database row -> the wire row every event, snapshot and resync carries. */
export function toDeliveryRow(d: DeliveryWithRider): DeliveryRow {
  return {
    deliverySeq: d.deliverySeq,
    centerId: d.centerId,
    orderNo: d.orderNo,
    shopName: d.shopName,
    shopAddress: d.shopAddress,
    address: d.address,
    lat: d.lat,
    lng: d.lng,
    riderId: d.riderId,
    riderName: d.rider?.name ?? null,
    status: d.status,
    createdAt: d.createdAt.toISOString(),
    assignedAt: iso(d.assignedAt),
    pickedUpAt: iso(d.pickedUpAt),
    deliveredAt: iso(d.deliveredAt),
    cancelledAt: iso(d.cancelledAt),
    modDate: d.modDate.toISOString(),
    version: d.version,
  };
}
