import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  DEVICE_OFFLINE_AFTER_SEC,
  deviceUsernameSchema,
  toShopOrderMessage,
  type ShopOrderMessage,
  type ShopOrdersResponse,
  type ShopStatus,
  watermarkOf,
} from '../../protocol';
import type { DevicePrincipal } from '../auth/policy';
import { hashPassword, verifyPassword } from '../auth/password';
import type { Db } from '../db/database';
import { deliveriesRepository } from '../deliveries/deliveries.repository';
import { toDeliveryRow } from '../deliveries/deliveries.mapper';
import { AppError } from '../errors';

/** A verified password is remembered (as a SHA-256) this long, so reconnect storms cost no scrypt. */
const VERIFIED_TTL_MS = 5 * 60_000;

export interface NewDeviceCredentials {
  deviceId: number;
  shopId: number;
  name: string;
  username: string;
  /** Shown once; only its scrypt hash is stored. */
  password: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Most rows one poll answers; a longer backlog comes over the next polls. */
const SHOP_ORDERS_PAGE = 1000;

/**
 * Shops' order-receipt devices: registration (hashed credentials), authentication for the broker
 * and the polling route, persisted liveness (last will / heartbeat), and the shop's order feed.
 */
export function createDevicesService(deps: { db: Db; now?: () => Date; shopOrdersPage?: number }) {
  const { db } = deps;
  const page = deps.shopOrdersPage ?? SHOP_ORDERS_PAGE;
  const now = deps.now ?? (() => new Date());
  const verified = new Map<string, { digest: Buffer; principal: DevicePrincipal; until: number }>();

  async function shopStatus(shopId: number): Promise<ShopStatus | null> {
    const shop = await db.shop.findUnique({
      where: { id: shopId },
      select: { id: true, centerId: true, name: true, devices: { where: { revokedAt: null }, select: { online: true } } },
    });
    if (!shop) return null;
    const online = shop.devices.filter((d) => d.online).length;
    return { shopId: shop.id, centerId: shop.centerId, name: shop.name, devices: shop.devices.length, online, offline: shop.devices.length > 0 && online === 0 };
  }

  return {
    /** Register a device for a shop; the password is generated unless given (the demo's). */
    async create(shopId: number, name: string, opts: { username?: string; password?: string } = {}): Promise<NewDeviceCredentials> {
      const cleanName = name.trim();
      if (!cleanName || cleanName.length > 100) throw new AppError('bad_request', 'A device name is 1-100 characters');
      const shop = await db.shop.findUnique({ where: { id: shopId }, select: { id: true } });
      if (!shop) throw new AppError('not_found', `Shop ${shopId} not found`);
      const username = opts.username ?? `dev-${shopId}-${randomBytes(4).toString('hex')}`;
      const u = deviceUsernameSchema.safeParse(username);
      if (!u.success) throw new AppError('bad_request', `Device username ${u.error.issues[0]?.message ?? 'is invalid'}`);
      const password = opts.password ?? randomBytes(18).toString('base64url');
      if (await db.device.findUnique({ where: { username }, select: { id: true } })) throw new AppError('conflict', `Device ${username} already exists`);
      const device = await db.device.create({ data: { shopId, name: cleanName, username, passwordHash: await hashPassword(password) } });
      return { deviceId: device.id, shopId, name: device.name, username, password };
    },

    /** Revoke a device: it can no longer connect or poll. */
    async revoke(username: string): Promise<void> {
      const res = await db.device.updateMany({ where: { username, revokedAt: null }, data: { revokedAt: now(), online: false } });
      if (res.count === 0) throw new AppError('not_found', `No active device ${username}`);
      verified.delete(username);
    },

    /** The device for these credentials, or null (unknown, revoked or wrong password). */
    async authenticate(username: string | undefined, password: string | undefined): Promise<DevicePrincipal | null> {
      if (!username || !password || username.length > 64 || password.length > 200) return null;
      const hit = verified.get(username);
      if (hit && hit.until > Date.now() && timingSafeEqual(hit.digest, sha256(password))) return hit.principal;
      const device = await db.device.findUnique({ where: { username } });
      if (!device || device.revokedAt || !(await verifyPassword(password, device.passwordHash))) return null;
      const principal = { deviceId: device.id, shopId: device.shopId, username: device.username };
      verified.set(username, { digest: sha256(password), principal, until: Date.now() + VERIFIED_TTL_MS });
      return principal;
    },

    /**
     * A status message (heartbeat `online`, last will `offline`) from a device. Persists it and
     * returns the shop's status when the shop's flag (all devices offline) flipped.
     */
    async recordStatus(username: string, shopId: number, state: 'online' | 'offline'): Promise<ShopStatus | null> {
      const before = await shopStatus(shopId);
      const res = await db.device.updateMany({
        where: { username, shopId, revokedAt: null },
        data: { online: state === 'online', ...(state === 'online' ? { lastSeenAt: now() } : {}) },
      });
      if (res.count === 0) return null;
      const after = await shopStatus(shopId);
      return after && before && (after.offline !== before.offline || after.online !== before.online) ? after : null;
    },

    /** Devices silent for longer than the heartbeat allows go offline; returns shops whose status changed. */
    async sweep(): Promise<ShopStatus[]> {
      const cutoff = new Date(now().getTime() - DEVICE_OFFLINE_AFTER_SEC * 1000);
      const stale = await db.device.findMany({ where: { online: true, OR: [{ lastSeenAt: { lt: cutoff } }, { lastSeenAt: null }] }, select: { id: true, shopId: true } });
      if (stale.length === 0) return [];
      await db.device.updateMany({ where: { id: { in: stale.map((d) => d.id) } }, data: { online: false } });
      const out: ShopStatus[] = [];
      for (const shopId of new Set(stale.map((d) => d.shopId))) {
        const s = await shopStatus(shopId);
        if (s) out.push(s);
      }
      return out;
    },

    shopStatus,

    /** Device liveness of a center's shops that have devices. */
    async shopsStatus(centerId: number): Promise<ShopStatus[]> {
      const shops = await db.shop.findMany({
        where: { centerId, devices: { some: { revokedAt: null } } },
        select: { id: true, centerId: true, name: true, devices: { where: { revokedAt: null }, select: { online: true } } },
        orderBy: { id: 'asc' },
      });
      return shops.map((s) => {
        const online = s.devices.filter((d) => d.online).length;
        return { shopId: s.id, centerId: s.centerId, name: s.name, devices: s.devices.length, online, offline: online === 0 };
      });
    },

    /** Totals for the monitor and /metrics: registered devices, online ones, shops with all devices offline. */
    async counts(): Promise<{ devices: number; online: number; shopsOffline: number }> {
      const [devices, online, shopsOffline] = await Promise.all([
        db.device.count({ where: { revokedAt: null } }),
        db.device.count({ where: { revokedAt: null, online: true } }),
        db.shop.count({ where: { devices: { some: { revokedAt: null } }, NOT: { devices: { some: { revokedAt: null, online: true } } } } }),
      ]);
      return { devices, online, shopsOffline };
    },

    /**
     * The polling fallback: what the shop's topic carried. Without `since`, every open order
     * (what the broker holds retained); with it (an earlier answer's `asOf`), every change written
     * by a transaction at or after that watermark, oldest first (the device's merge rule drops
     * repeats). Rows and `asOf` come from one database snapshot. At most a page: a longer list or
     * backlog continues from the answer's `asOf`.
     */
    async shopOrders(shopId: number, since: number | undefined): Promise<ShopOrdersResponse> {
      const { rows, asOf } = await deliveriesRepository.forShopAsOf(db, shopId, since, page);
      const messages = rows.map((d) => toShopOrderMessage(toDeliveryRow(d))).filter((m): m is ShopOrderMessage => m !== null);
      // A full page may have left rows out. Rows come oldest transaction first, so every row left
      // out was written by the last row's transaction or a later one, or was still in flight
      // (at or above the snapshot's xmin): the next poll, from the lower of the two, brings them.
      const last = rows.at(-1);
      const mark = rows.length === page && last ? Math.min(watermarkOf(asOf), Number(last.txid)) : watermarkOf(asOf);
      return { shopId, messages, asOf: mark };
    },
  };
}
export type DevicesService = ReturnType<typeof createDevicesService>;
