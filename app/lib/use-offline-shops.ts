'use client';
import { useEffect, useState } from 'react';
import type { ShopStatus } from '@/protocol';
import { request, type DispatchSocket } from './socket';

/**
 * Shops of the watched centers whose order-receipt devices are all offline: loaded with
 * `shops:status` on (re)connect, kept current by `shop:status` events.
 */
export function useOfflineShops(socket: DispatchSocket | null, centerIds: readonly number[]): ReadonlySet<number> {
  const [offline, setOffline] = useState<ReadonlySet<number>>(() => new Set());
  const key = centerIds.join(',');
  useEffect(() => {
    if (!socket || key === '') return;
    const ids = key.split(',').map(Number);
    const apply = (list: ShopStatus[]) =>
      setOffline((prev) => {
        const next = new Set(prev);
        for (const s of list) {
          if (!ids.includes(s.centerId)) continue;
          if (s.offline) next.add(s.shopId);
          else next.delete(s.shopId);
        }
        return next;
      });
    const load = () => {
      for (const centerId of ids) request(socket, 'shops:status', { centerId }).then(apply, () => undefined);
    };
    const onStatus = (s: ShopStatus) => apply([s]);
    socket.on('shop:status', onStatus);
    socket.on('connect', load);
    if (socket.connected) load();
    return () => {
      socket.off('shop:status', onStatus);
      socket.off('connect', load);
      setOffline(new Set());
    };
  }, [socket, key]);
  return offline;
}
