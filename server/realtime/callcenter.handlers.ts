import { z } from 'zod';
import { orderWatchSchema, rooms } from '../../protocol';
import { policy, requireVisible } from '../auth/policy';
import type { OrdersService } from '../orders/orders.service';
import { shareCommands, socketCommand, type CommandDeps } from './ack';
import type { CallcenterNamespace, CallcenterSocket } from './types';

const mayWatch = (socket: CallcenterSocket) => {
  requireVisible(policy.seeOrders(socket.data.user), 'Orders');
};

/** The /callcenter namespace: agents watch an order's room while its detail is open. Commands are shared by every socket (see socketCommand). */
export function registerCallcenterHandlers(nsp: CallcenterNamespace, deps: CommandDeps & { orders: OrdersService }): void {
  const watch = socketCommand(deps, 'order:watch', orderWatchSchema, async (socket: CallcenterSocket, { orderNo }) => {
    mayWatch(socket);
    // Join before reading, so no change committed in between is missed; leave if it is unknown.
    await socket.join(rooms.order(orderNo));
    try {
      return await deps.orders.get(orderNo);
    } catch (err) {
      await socket.leave(rooms.order(orderNo));
      throw err;
    }
  });
  const unwatch = socketCommand(deps, 'order:unwatch', orderWatchSchema, async (socket: CallcenterSocket, { orderNo }) => {
    await socket.leave(rooms.order(orderNo));
    return { orderNo };
  });
  const search = socketCommand(deps, 'orders:search', z.object({ q: z.string().max(100).default('') }), async (socket: CallcenterSocket, { q }) => {
    mayWatch(socket);
    return deps.orders.search(q);
  });
  shareCommands<CallcenterSocket>(nsp, { 'order:watch': watch, 'order:unwatch': unwatch, 'orders:search': search });
}
