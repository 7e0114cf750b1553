import { DELIVERY_EVENT_BY_STATUS, rooms, type DeliveryRow, type RiderRow } from '../../protocol';
import type { ChangeNotifier } from '../deliveries/deliveries.service';
import type { DispatchNamespace } from './dispatch.handlers';

/**
 * Routes committed changes to rooms. Every call site names its delivery mode:
 * room (one center), broadcast (all centers: the HQ room) or private (one user's room).
 */
export function createPublisher(dispatch: DispatchNamespace): ChangeNotifier {
  return {
    deliveryChanged(row: DeliveryRow) {
      const event = DELIVERY_EVENT_BY_STATUS[row.status];
      // room mode: the center's dispatchers; broadcast mode: HQ's all-centers room.
      dispatch.to(rooms.center(row.centerId)).to(rooms.allCenters()).emit(event, row);
    },
    riderChanged(row: RiderRow) {
      dispatch.to(rooms.center(row.centerId)).to(rooms.allCenters()).emit('rider:status', row);
    },
  };
}
