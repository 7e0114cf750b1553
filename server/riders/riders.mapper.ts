import type { RiderRow } from '../../protocol';
import type { Rider } from '../db/generated/client';

export function toRiderRow(r: Rider): RiderRow {
  return {
    id: r.id,
    centerId: r.centerId,
    name: r.name,
    status: r.status,
    lat: r.lat,
    lng: r.lng,
    lastSeenAt: r.lastSeenAt ? r.lastSeenAt.toISOString() : null,
    modDate: r.modDate.toISOString(),
    version: r.version,
  };
}
