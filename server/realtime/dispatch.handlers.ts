import { z } from 'zod';
import type { Namespace, Socket } from 'socket.io';
import {
  centerIdSchema,
  deliverySyncRequestSchema,
  PROTOCOL_VERSION,
  rooms,
  type DispatchClientEvents,
  type DispatchServerEvents,
} from '../../protocol';
import type { CentersService } from '../centers/centers.service';
import type { DeliveriesService } from '../deliveries/deliveries.service';
import type { Logger } from '../logger';
import { command } from './ack';

export type DispatchNamespace = Namespace<DispatchClientEvents, DispatchServerEvents>;
type DispatchSocket = Socket<DispatchClientEvents, DispatchServerEvents>;

const centerRef = z.object({ centerId: centerIdSchema });

export interface DispatchHandlerDeps {
  logger: Logger;
  centers: CentersService;
  deliveries: DeliveriesService;
}

/** The /dispatch namespace: center rooms and the delivery list sync. */
export function registerDispatchHandlers(nsp: DispatchNamespace, deps: DispatchHandlerDeps): void {
  const { logger, centers, deliveries } = deps;
  nsp.on('connection', (socket: DispatchSocket) => {
    socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, serverTime: new Date().toISOString() });

    socket.on('centers:list', command(logger, 'centers:list', z.unknown(), () => centers.list()));

    socket.on(
      'center:join',
      command(logger, 'center:join', centerRef, async ({ centerId }) => {
        await centers.get(centerId);
        await socket.join(rooms.center(centerId));
        return { centerId };
      }),
    );

    socket.on(
      'center:leave',
      command(logger, 'center:leave', centerRef, async ({ centerId }) => {
        await socket.leave(rooms.center(centerId));
        return { centerId };
      }),
    );

    socket.on(
      'deliveries:sync',
      command(logger, 'deliveries:sync', deliverySyncRequestSchema, ({ centerId, since }) =>
        since ? deliveries.changedSince(centerId, since) : deliveries.listForCenter(centerId),
      ),
    );
  });
}
