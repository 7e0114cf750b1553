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
} from '../../protocol';
import { policy, requireAllowed, requireVisible } from '../auth/policy';
import type { CentersService } from '../centers/centers.service';
import { actorOf, type DeliveriesService } from '../deliveries/deliveries.service';
import type { RidersService } from '../riders/riders.service';
import { command, type CommandDeps } from './ack';
import type { DispatchNamespace, DispatchSocket } from './types';

export interface DispatchHandlerDeps extends CommandDeps {
  centers: CentersService;
  deliveries: DeliveriesService;
  riders: RidersService;
}

const centerRef = z.object({ centerId: centerIdSchema });
const seqRef = z.object({ deliverySeq: idSchema });


/** The /dispatch namespace: center rooms, the delivery list and the delivery commands. */
export function registerDispatchHandlers(nsp: DispatchNamespace, deps: DispatchHandlerDeps): void {
  const { centers, deliveries, riders } = deps;
  nsp.on('connection', (socket: DispatchSocket) => {
    const user = socket.data.user;
    const actor = actorOf(user);

    socket.on(
      'centers:list',
      command(deps, 'centers:list', z.unknown(), async () => {
        const all = await centers.list();
        return all.filter((c) => policy.seeCenter(user, c.id));
      }),
    );

    socket.on(
      'center:join',
      command(deps, 'center:join', centerJoinSchema, async (req) => {
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
    );

    socket.on(
      'center:leave',
      command(deps, 'center:leave', centerJoinSchema, async (req) => {
        if ('all' in req) {
          await socket.leave(rooms.allCenters());
          return { centerId: 'all' as const };
        }
        await socket.leave(rooms.center(req.centerId));
        return { centerId: req.centerId };
      }),
    );

    socket.on(
      'deliveries:sync',
      command(deps, 'deliveries:sync', deliverySyncRequestSchema, async ({ centerId, sinceTx }) => {
        requireVisible(policy.seeCenter(user, centerId), `Center ${centerId}`);
        return sinceTx !== undefined ? deliveries.changedSince(centerId, sinceTx) : deliveries.listForCenter(centerId);
      }),
    );

    socket.on(
      'deliveries:mine',
      command(deps, 'deliveries:mine', z.unknown(), async () => {
        requireAllowed(policy.ownDeliveries(user) && user.riderId !== null, 'Only riders have their own deliveries');
        return deliveries.listForRider(user.riderId ?? 0);
      }),
    );

    socket.on(
      'deliveries:fetch',
      command(deps, 'deliveries:fetch', deliveriesFetchSchema, async ({ centerId, seqs }) => {
        requireVisible(policy.seeCenter(user, centerId), `Center ${centerId}`);
        return deliveries.getMany(centerId, seqs);
      }),
    );

    socket.on(
      'delivery:timeline',
      command(deps, 'delivery:timeline', seqRef, async ({ deliverySeq }) => {
        const d = await deliveries.get(deliverySeq);
        requireVisible(policy.seeDelivery(user, d), `Delivery ${deliverySeq}`);
        return deliveries.timeline(deliverySeq);
      }),
    );

    socket.on(
      'riders:list',
      command(deps, 'riders:list', centerRef, async ({ centerId }) => {
        requireVisible(policy.seeCenter(user, centerId), `Center ${centerId}`);
        return riders.list(centerId);
      }),
    );

    socket.on(
      'delivery:assign',
      command(deps, 'delivery:assign', assignCommandSchema, (c) => deliveries.assign(c.deliverySeq, c.riderId, actor, c)),
    );
    socket.on(
      'delivery:pick_up',
      command(deps, 'delivery:pick_up', deliveryCommandSchema, (c) => deliveries.pickUp(c.deliverySeq, actor, c)),
    );
    socket.on(
      'delivery:deliver',
      command(deps, 'delivery:deliver', deliveryCommandSchema, (c) => deliveries.deliver(c.deliverySeq, actor, c)),
    );
    socket.on(
      'delivery:cancel',
      command(deps, 'delivery:cancel', cancelCommandSchema, (c) => deliveries.cancel(c.deliverySeq, c.reason, actor, c)),
    );

    socket.on(
      'rider:position',
      command(deps, 'rider:position', positionCommandSchema, async ({ lat, lng }) => {
        requireAllowed(policy.shareLocation(user) && user.riderId !== null, 'Only riders share a location');
        return riders.updatePosition(user.riderId ?? 0, lat, lng);
      }),
    );
  });
}
