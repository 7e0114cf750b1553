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
import { policy } from '../auth/policy';
import type { CentersService } from '../centers/centers.service';
import { actorOf, type DeliveriesService } from '../deliveries/deliveries.service';
import { AppError } from '../errors';
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

function requireCenter(allowed: boolean): void {
  if (!allowed) throw new AppError('forbidden', 'You may not see this center');
}

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
        return policy.joinAllCenters(user) ? all : all.filter((c) => user.centerIds.includes(c.id));
      }),
    );

    socket.on(
      'center:join',
      command(deps, 'center:join', centerJoinSchema, async (req) => {
        if ('all' in req) {
          requireCenter(policy.joinAllCenters(user));
          await socket.join(rooms.allCenters());
          return { centerId: 'all' as const };
        }
        await centers.get(req.centerId);
        requireCenter(policy.joinCenter(user, req.centerId));
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
        requireCenter(policy.joinCenter(user, centerId));
        return sinceTx !== undefined ? deliveries.changedSince(centerId, sinceTx) : deliveries.listForCenter(centerId);
      }),
    );

    socket.on(
      'deliveries:mine',
      command(deps, 'deliveries:mine', z.unknown(), async () => {
        if (user.riderId === null) throw new AppError('forbidden', 'Only riders have their own deliveries');
        return deliveries.listForRider(user.riderId);
      }),
    );

    socket.on(
      'deliveries:fetch',
      command(deps, 'deliveries:fetch', deliveriesFetchSchema, async ({ centerId, seqs }) => {
        requireCenter(policy.joinCenter(user, centerId));
        return deliveries.getMany(centerId, seqs);
      }),
    );

    socket.on(
      'delivery:timeline',
      command(deps, 'delivery:timeline', seqRef, async ({ deliverySeq }) => {
        const d = await deliveries.get(deliverySeq);
        requireCenter(policy.joinCenter(user, d.centerId) || policy.riderAction(user, d));
        return deliveries.timeline(deliverySeq);
      }),
    );

    socket.on(
      'riders:list',
      command(deps, 'riders:list', centerRef, async ({ centerId }) => {
        requireCenter(policy.joinCenter(user, centerId));
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
        if (!policy.shareLocation(user) || user.riderId === null) throw new AppError('forbidden', 'Only riders share a location');
        return riders.updatePosition(user.riderId, lat, lng);
      }),
    );
  });
}
