import type { RiderPosition, RiderRow } from '../../protocol';
import type { Db } from '../db/database';
import { Prisma } from '../db/generated/client';
import { AppError } from '../errors';
import { toRiderRow } from './riders.mapper';

export function createRidersService(db: Db, onPosition: (pos: RiderPosition) => void, now: () => Date = () => new Date()) {
  return {
    async list(centerId: number): Promise<RiderRow[]> {
      const rows = await db.rider.findMany({ where: { centerId }, orderBy: { id: 'asc' } });
      return rows.map(toRiderRow);
    },
    /** A rider's shared location; positions are frequent, so they do not bump the row version. */
    async updatePosition(riderId: number, lat: number, lng: number): Promise<RiderPosition> {
      const at = now();
      // Only "no such rider" (P2025) is not_found; any other database error stays an error.
      const r = await db.rider.update({ where: { id: riderId }, data: { lat, lng, lastSeenAt: at } }).catch((err: unknown) => {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') throw new AppError('not_found', `Rider ${riderId} not found`);
        throw err;
      });
      const pos = { riderId, centerId: r.centerId, lat, lng, at: at.toISOString() };
      onPosition(pos);
      return pos;
    },
  };
}
export type RidersService = ReturnType<typeof createRidersService>;
