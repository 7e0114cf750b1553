import { shopsStatusRequestSchema } from '../../protocol';
import { policy } from '../auth/policy';
import { AppError } from '../errors';
import { shareCommands, socketCommand, type CommandDeps } from '../realtime/ack';
import type { DispatchNamespace, DispatchSocket } from '../realtime/types';
import type { DevicesService } from './devices.service';

/** /dispatch `shops:status`: device liveness of a center's shops (then `shop:status` events keep it current). */
export function registerShopHandlers(nsp: DispatchNamespace, deps: CommandDeps & { devices: DevicesService; statusSchema: typeof shopsStatusRequestSchema }): void {
  // One listener for every socket (see socketCommand).
  const status = socketCommand(deps, 'shops:status', deps.statusSchema, async (socket: DispatchSocket, { centerId }) => {
    if (!policy.seeCenter(socket.data.user, centerId)) throw new AppError('forbidden', 'You may not see this center');
    return deps.devices.shopsStatus(centerId);
  });
  shareCommands(nsp, { 'shops:status': status });
}
