import { z } from 'zod';
import { orderWatchSchema, rooms } from '../../protocol';
import { policy, requireVisible } from '../auth/policy';
import type { OrdersService } from '../orders/orders.service';
import { command, type CommandDeps } from './ack';
import type { CallcenterNamespace, CallcenterSocket } from './types';

/** The /callcenter namespace: agents watch an order's room while its detail is open. */
export function registerCallcenterHandlers(nsp: CallcenterNamespace, deps: CommandDeps & { orders: OrdersService }): void {
  nsp.on('connection', (socket: CallcenterSocket) => {
    const user = socket.data.user;
    const mayWatch = () => {
      requireVisible(policy.seeOrders(user), 'Orders');
    };
    socket.on(
      'order:watch',
      command(deps, 'order:watch', orderWatchSchema, async ({ orderNo }) => {
        mayWatch();
        // Join before reading, so no change committed in between is missed; leave if it is unknown.
        await socket.join(rooms.order(orderNo));
        try {
          return await deps.orders.get(orderNo);
        } catch (err) {
          await socket.leave(rooms.order(orderNo));
          throw err;
        }
      }),
    );
    socket.on(
      'order:unwatch',
      command(deps, 'order:unwatch', orderWatchSchema, async ({ orderNo }) => {
        await socket.leave(rooms.order(orderNo));
        return { orderNo };
      }),
    );
    socket.on(
      'orders:search',
      command(deps, 'orders:search', z.object({ q: z.string().max(100).default('') }), async ({ q }) => {
        mayWatch();
        return deps.orders.search(q);
      }),
    );
  });
}
