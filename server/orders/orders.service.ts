import type { DeliveryRow, OrderRow } from '../../protocol';
import type { Db } from '../db/database';
import { toDeliveryRow, toOrderRow } from '../deliveries/deliveries.mapper';
import { AppError, nulRefusal } from '../errors';

export function createOrdersService(db: Db) {
  return {
    async get(orderNo: string): Promise<{ order: OrderRow; delivery: DeliveryRow | null }> {
      const o = await db.order.findUnique({
        where: { orderNo },
        include: { delivery: { include: { rider: { select: { name: true, userId: true } } } } },
      });
      if (!o) throw new AppError('not_found', `Order ${orderNo} not found`);
      return { order: toOrderRow(o), delivery: o.delivery ? toDeliveryRow(o.delivery) : null };
    },
    /** Orders whose number, customer or shop contains `q`, newest first. */
    async search(q: string, limit = 50): Promise<OrderRow[]> {
      const term = q.trim();
      // The REST search takes its text from the query string, which no body check sees.
      const refused = nulRefusal(term, 'search text');
      if (refused) throw refused;
      const rows = await db.order.findMany({
        where: term
          ? {
              OR: [
                { orderNo: { contains: term, mode: 'insensitive' } },
                { customerName: { contains: term, mode: 'insensitive' } },
                { shopName: { contains: term, mode: 'insensitive' } },
                { customerPhone: { contains: term } },
                // A phone number typed without dashes still finds 010-1234-5678.
                ...(/^[\d\s()+-]{7,}$/.test(term) ? [{ customerPhone: { contains: term.replace(/\D/g, '').replace(/^(\d{3})(\d{3,4})(\d{4})$/, '$1-$2-$3') } }] : []),
              ],
            }
          : {},
        include: { delivery: { select: { deliverySeq: true } } },
        orderBy: { id: 'desc' },
        take: limit,
      });
      return rows.map(toOrderRow);
    },
  };
}
export type OrdersService = ReturnType<typeof createOrdersService>;
