import type { Center } from '../../protocol';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import { createReadBatcher } from '../db/read-batcher';

/** How long a center found in the database is answered from memory. */
const KNOWN_CENTER_TTL_MS = 30_000;

const toCenter = ({ id, code, name, lat, lng }: Center): Center => ({ id, code, name, lat, lng });

export function createCentersService(db: Db, now: () => number = Date.now) {
  /**
   * Centers found recently. `get` runs on every center join (every dispatcher connect and
   * reconnect); centers are created by an operator, rarely, so a found center is kept for a short
   * while instead of costing one database round trip per join. A miss always asks the database,
   * so a new center is found at once.
   */
  const known = new Map<number, { center: Center; at: number }>();
  // Identical reads at the same moment share one database read. When the cached center expires
  // while thousands of clients join (a reconnect storm), they would otherwise each queue for a
  // pool connection; and `centers:list` is every dashboard's first command.
  const lists = createReadBatcher({
    key: (all: 'all') => all,
    run: () => db.center.findMany({ orderBy: { id: 'asc' } }),
    pick: (rows) => rows.map(toCenter),
  });
  const lookups = createReadBatcher({
    key: (id: number) => String(id),
    run: ([id]) => db.center.findUnique({ where: { id: id! } }),
    pick: (c) => (c ? toCenter(c) : null),
  });
  return {
    list(): Promise<Center[]> {
      return lists.read('all');
    },
    async get(id: number): Promise<Center> {
      const hit = known.get(id);
      if (hit && now() - hit.at < KNOWN_CENTER_TTL_MS) return hit.center;
      const center = await lookups.read(id);
      if (!center) {
        known.delete(id);
        throw new AppError('not_found', `Center ${id} not found`);
      }
      known.set(id, { center, at: now() });
      return center;
    },
    /** Database reads so far (the tests count them). */
    get reads(): number {
      return lists.reads + lookups.reads;
    },
  };
}
export type CentersService = ReturnType<typeof createCentersService>;
