import { DELIVERY_EVENT_BY_STATUS, NAMESPACES, rooms, type ChatMessage, type DeliveryRow, type NamespaceName, type OrderRow, type RiderPosition, type RiderRow } from '../../protocol';
import type { ChangeNotifier, DeliveryAudience } from '../deliveries/deliveries.service';
import type { Metrics } from '../metrics';
import type { Namespaces } from './types';

/**
 * Routes committed changes to rooms. Every call names its delivery mode:
 * - room: the members of one room (a center's dispatchers, a chat, an order's agents);
 * - broadcast: every center at once, which is HQ's all-centers room;
 * - private: one user, on every tab and device they have open (their user room).
 * One emit per change lists all its rooms, so a socket in several of them gets it once.
 */
export function createPublisher(ns: Namespaces, metrics: Metrics, lossInjector?: (event: string) => string[]) {
  const count = (namespace: NamespaceName, event: string) => metrics.emitted.inc({ namespace, event });

  const notifier: ChangeNotifier & {
    chatMessage(msg: ChatMessage): void;
    riderPosition(pos: RiderPosition): void;
  } = {
    deliveryChanged(row: DeliveryRow, audience: DeliveryAudience) {
      const event = DELIVERY_EVENT_BY_STATUS[row.status];
      const targets = [
        rooms.center(row.centerId), // room
        rooms.allCenters(), // broadcast
        ...audience.riderUserIds.map(rooms.user), // private
      ];
      const lost = lossInjector?.(event) ?? [];
      (lost.length ? ns.dispatch.to(targets).except(lost) : ns.dispatch.to(targets)).emit(event, row);
      count(NAMESPACES.dispatch, event);
      ns.callcenter.to(rooms.order(row.orderNo)).emit(event, row); // room
      count(NAMESPACES.callcenter, event);
    },
    riderChanged(row: RiderRow) {
      ns.dispatch.to([rooms.center(row.centerId), rooms.allCenters()]).emit('rider:status', row); // room + broadcast
      count(NAMESPACES.dispatch, 'rider:status');
    },
    riderPosition(pos: RiderPosition) {
      ns.dispatch.to([rooms.center(pos.centerId), rooms.allCenters()]).emit('rider:position', pos); // room + broadcast
      count(NAMESPACES.dispatch, 'rider:position');
    },
    orderCancelled(order: OrderRow) {
      ns.callcenter.to(rooms.order(order.orderNo)).emit('order:cancelled', order); // room
      count(NAMESPACES.callcenter, 'order:cancelled');
    },
    chatMessage(msg: ChatMessage) {
      ns.chat.to(rooms.center(msg.centerId)).emit('chat:message', msg); // room
      count(NAMESPACES.chat, 'chat:message');
    },
  };

  /** The HTTP publish API's raw path: an already validated (namespace, room, event, data). */
  function publish(namespace: NamespaceName, room: string, event: string, data: unknown): void {
    const target = { [NAMESPACES.dispatch]: ns.dispatch, [NAMESPACES.chat]: ns.chat, [NAMESPACES.callcenter]: ns.callcenter, [NAMESPACES.monitor]: ns.monitor }[namespace];
    // Event names were checked against the catalogue by the caller; the typed maps cannot express
    // "any catalogued event of this namespace" for a runtime value, hence the narrow cast.
    (target.to(room) as unknown as { emit(e: string, d: unknown): void }).emit(event, data);
    count(namespace, event);
  }

  return { notifier, publish };
}
export type Publisher = ReturnType<typeof createPublisher>;
