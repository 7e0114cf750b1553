import type { Center } from '../../protocol';
import type { Db } from '../db/database';
import { AppError } from '../errors';

/** How long a center found in the database is answered from memory. */
const KNOWN_CENTER_TTL_MS = 30_000;

export function createCentersService(db: Db, now: () => number = Date.now) {
  /**
   * Centers found recently. `get` runs on every center join (every dispatcher connect and
   * reconnect); centers are created by an operator, rarely, so a found center is kept for a short
   * while instead of costing one database round trip per join. A miss always asks the database,
   * so a new center is found at once.
   */
  const known = new Map<number, { center: Center; at: number }>();
  return {
    async list(): Promise<Center[]> {
      const rows = await db.center.findMany({ orderBy: { id: 'asc' } });
      return rows.map(({ id, code, name, lat, lng }) => ({ id, code, name, lat, lng }));
    },
    async get(id: number): Promise<Center> {
      const hit = known.get(id);
      if (hit && now() - hit.at < KNOWN_CENTER_TTL_MS) return hit.center;
      const c = await db.center.findUnique({ where: { id } });
      if (!c) {
        known.delete(id);
        throw new AppError('not_found', `Center ${id} not found`);
      }
      const center = { id: c.id, code: c.code, name: c.name, lat: c.lat, lng: c.lng };
      known.set(id, { center, at: now() });
      return center;
    },
  };
}
export type CentersService = ReturnType<typeof createCentersService>;
