import type { DeliveryRow, OrderRow } from '../../protocol';
import type { Delivery, Order, Rider } from '../db/generated/client';

export type DeliveryWithRider = Delivery & { rider: Pick<Rider, 'name' | 'userId'> | null };

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
    txid: Number(d.txid),
  };
}

export function toOrderRow(o: Order & { delivery: Pick<Delivery, 'deliverySeq'> | null }): OrderRow {
  return {
    orderNo: o.orderNo,
    centerId: o.centerId,
    shopName: o.shopName,
    customerName: o.customerName,
    customerPhone: o.customerPhone,
    customerAddress: o.customerAddress,
    items: o.items,
    totalWon: o.totalWon,
    status: o.status,
    cancelReason: o.cancelReason,
    cancelledAt: iso(o.cancelledAt),
    createdAt: o.createdAt.toISOString(),
    modDate: o.modDate.toISOString(),
    version: o.version,
    deliverySeq: o.delivery?.deliverySeq ?? null,
  };
}
