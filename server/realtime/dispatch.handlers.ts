import { z } from 'zod';
import {
  assignCommandSchema,
  cancelCommandSchema,
  centerIdSchema,
  centerJoinSchema,
  deliveryCommandSchema,
  deliveriesFetchSchema,
  deliverySyncRequestSchema,
  idSchema,
  positionCommandSchema,
  rooms,
  type DispatchClientEvents,
} from '../../protocol';
import { policy, requireAllowed, requireVisible } from '../auth/policy';
import type { CentersService } from '../centers/centers.service';
import { actorOf, type DeliveriesService } from '../deliveries/deliveries.service';
import type { RidersService } from '../riders/riders.service';
import { shareCommands, socketCommand, type CommandDeps, type SharedListener } from './ack';
import type { DispatchNamespace, DispatchSocket } from './types';

export interface DispatchHandlerDeps extends CommandDeps {
  centers: CentersService;
  deliveries: DeliveriesService;
  riders: RidersService;
}

const centerRef = z.object({ centerId: centerIdSchema });
const seqRef = z.object({ deliverySeq: idSchema });


type Handler = SharedListener<DispatchSocket>;

/**
 * The /dispatch namespace: center rooms, the delivery list and the delivery commands. The
 * handler table is built once; every socket registers the same function objects (each reads its
 * socket from `this`), so a connection costs no closures of its own here.
 */
export function registerDispatchHandlers(nsp: DispatchNamespace, deps: DispatchHandlerDeps): void {
  const { centers, deliveries, riders } = deps;
  const cmd = <S extends z.ZodType, T>(name: keyof DispatchClientEvents, schema: S, run: (socket: DispatchSocket, input: z.infer<S>) => Promise<T>): Handler =>
    socketCommand<DispatchSocket, S, T>(deps, name, schema, run);
  const userOf = (socket: DispatchSocket) => socket.data.user;

  // Shops' device status and presence are /dispatch commands too, registered by their own
  // features (server/devices, server/ops).
  const table: { [E in Exclude<keyof DispatchClientEvents, 'shops:status' | 'presence:heartbeat' | 'presence:list'>]: Handler } = {
    'centers:list': cmd('centers:list', z.unknown(), async (socket) => {
      const user = userOf(socket);
      const all = await centers.list();
      return all.filter((c) => policy.seeCenter(user, c.id));
    }),

    'center:join': cmd('center:join', centerJoinSchema, async (socket, req) => {
      const user = userOf(socket);
      if ('all' in req) {
        requireVisible(policy.seeAllCenters(user), 'The all-centers room');
        await socket.join(rooms.allCenters());
        return { centerId: 'all' as const };
      }
      requireVisible(policy.seeCenter(user, req.centerId), `Center ${req.centerId}`);
      await centers.get(req.centerId);
      await socket.join(rooms.center(req.centerId));
      return { centerId: req.centerId };
    }),

    'center:leave': cmd('center:leave', centerJoinSchema, async (socket, req) => {
      if ('all' in req) {
        await socket.leave(rooms.allCenters());
        return { centerId: 'all' as const };
      }
      await socket.leave(rooms.center(req.centerId));
      return { centerId: req.centerId };
    }),

    'deliveries:sync': cmd('deliveries:sync', deliverySyncRequestSchema, async (socket, { centerId, sinceTx }) => {
      requireVisible(policy.seeCenter(userOf(socket), centerId), `Center ${centerId}`);
      return sinceTx !== undefined ? deliveries.changedSince(centerId, sinceTx) : deliveries.listForCenter(centerId);
    }),

    'deliveries:mine': cmd('deliveries:mine', z.unknown(), async (socket) => {
      const user = userOf(socket);
      requireAllowed(policy.ownDeliveries(user) && user.riderId !== null, 'Only riders have their own deliveries');
      return deliveries.listForRider(user.riderId ?? 0);
    }),

    'deliveries:fetch': cmd('deliveries:fetch', deliveriesFetchSchema, async (socket, { centerId, seqs }) => {
      requireVisible(policy.seeCenter(userOf(socket), centerId), `Center ${centerId}`);
      return deliveries.getMany(centerId, seqs);
    }),

    'delivery:timeline': cmd('delivery:timeline', seqRef, async (socket, { deliverySeq }) => {
      const user = userOf(socket);
      const d = await deliveries.get(deliverySeq);
      requireVisible(policy.seeDelivery(user, d), `Delivery ${deliverySeq}`);
      return deliveries.timeline(deliverySeq);
    }),

    'riders:list': cmd('riders:list', centerRef, async (socket, { centerId }) => {
      requireVisible(policy.seeCenter(userOf(socket), centerId), `Center ${centerId}`);
      return riders.list(centerId);
    }),

    'delivery:assign': cmd('delivery:assign', assignCommandSchema, (socket, c) => deliveries.assign(c.deliverySeq, c.riderId, actorOf(userOf(socket)), c)),
    'delivery:pick_up': cmd('delivery:pick_up', deliveryCommandSchema, (socket, c) => deliveries.pickUp(c.deliverySeq, actorOf(userOf(socket)), c)),
    'delivery:deliver': cmd('delivery:deliver', deliveryCommandSchema, (socket, c) => deliveries.deliver(c.deliverySeq, actorOf(userOf(socket)), c)),
    'delivery:cancel': cmd('delivery:cancel', cancelCommandSchema, (socket, c) => deliveries.cancel(c.deliverySeq, c.reason, actorOf(userOf(socket)), c)),

    'rider:position': cmd('rider:position', positionCommandSchema, async (socket, { lat, lng }) => {
      const user = userOf(socket);
      requireAllowed(policy.shareLocation(user) && user.riderId !== null, 'Only riders share a location');
      return riders.updatePosition(user.riderId ?? 0, lat, lng);
    }),
  };
  shareCommands<DispatchSocket>(nsp, table);
}
