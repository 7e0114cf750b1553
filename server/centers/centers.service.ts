import type { Center } from '../../protocol';
import type { Db } from '../db/database';
import { AppError } from '../errors';

export function createCentersService(db: Db) {
  return {
    async list(): Promise<Center[]> {
      const rows = await db.center.findMany({ orderBy: { id: 'asc' } });
      return rows.map(({ id, code, name, lat, lng }) => ({ id, code, name, lat, lng }));
    },
    async get(id: number): Promise<Center> {
      const c = await db.center.findUnique({ where: { id } });
      if (!c) throw new AppError('not_found', `Center ${id} not found`);
      return { id: c.id, code: c.code, name: c.name, lat: c.lat, lng: c.lng };
    },
  };
}
export type CentersService = ReturnType<typeof createCentersService>;
