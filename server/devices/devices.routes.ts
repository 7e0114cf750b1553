import { z } from 'zod';
import { MAX_ID, shopOrdersQuerySchema } from '../../protocol';
import { deviceMayReadShop, mayManageDevices, type DevicePrincipal } from '../auth/policy';
import { AppError } from '../errors';
import { requireUser, type SessionDeps } from '../http/auth';
import type { RateLimit } from '../http/rate-limit';
import type { RouteContext, Router } from '../http/router';
import type { DevicesService, NewDeviceCredentials } from './devices.service';

const shopIdSchema = z.coerce.number().int().positive().max(MAX_ID);
const newDeviceSchema = z.object({ name: z.string().trim().min(1).max(100) });

function shopIdOf(ctx: RouteContext): number {
  const r = shopIdSchema.safeParse(ctx.params.id);
  if (!r.success) throw new AppError('bad_request', 'The shop id must be a positive integer');
  return r.data;
}

/** A device from `Authorization: Basic <username:password>` (its MQTT credentials); 401 otherwise. */
async function requireDevice(ctx: RouteContext, devices: DevicesService): Promise<DevicePrincipal> {
  const h = ctx.req.headers.authorization;
  if (h?.startsWith('Basic ')) {
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const device = i > 0 ? await devices.authenticate(decoded.slice(0, i), decoded.slice(i + 1)) : null;
    if (device) return device;
  }
  throw new AppError('unauthorized', "Send the device's username and password as HTTP Basic credentials");
}

export function registerDeviceRoutes(
  router: Router,
  deps: {
    session: SessionDeps;
    devices: DevicesService;
    apiLimit: RateLimit;
    /** Makes a new device's account on an external broker (Mosquitto dynamic security), when one is used. */
    provision?: ((device: NewDeviceCredentials) => Promise<void>) | undefined;
  },
) {
  const { devices } = deps;

  /**
   * The polling fallback for devices whose MQTT connection is down (or killed by the phone's OS):
   * the same messages the shop's topic carries. Without `since`, every open order (the retained
   * state); with it, every change since then. Poll again with the answer's asOf.
   */
  router.get('/api/shops/:id/orders', async (ctx) => {
    const shopId = shopIdOf(ctx);
    const device = await requireDevice(ctx, devices);
    if (!deviceMayReadShop(device, shopId)) throw new AppError('forbidden', 'A device reads only its own shop');
    await deps.apiLimit(`device:${device.deviceId}`);
    const q = shopOrdersQuerySchema.safeParse({ since: ctx.query.get('since') ?? undefined });
    if (!q.success) throw new AppError('bad_request', "since must be the asOf number of the previous answer");
    return devices.shopOrders(shopId, q.data.since);
  });

  /** An admin registers a device for a shop; the answer shows its password once. */
  router.post('/api/shops/:id/devices', async (ctx) => {
    const user = await requireUser(ctx, deps.session);
    if (!mayManageDevices(user)) throw new AppError('forbidden', 'Only admins register devices');
    const shopId = shopIdOf(ctx);
    const body = await ctx.body(newDeviceSchema);
    const created = await devices.create(shopId, body.name);
    if (deps.provision) {
      try {
        await deps.provision(created);
      } catch (err) {
        await devices.revoke(created.username);
        throw new AppError('unavailable', `The MQTT broker did not accept the device: ${(err as Error).message}`);
      }
    }
    return { status: 201, body: created };
  });
}
