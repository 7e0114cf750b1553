import { shopsStatusRequestSchema } from '../../protocol';
import { policy } from '../auth/policy';
import { AppError } from '../errors';
import { command, type CommandDeps } from '../realtime/ack';
import type { DispatchNamespace, DispatchSocket } from '../realtime/types';
import type { DevicesService } from './devices.service';

/** /dispatch `shops:status`: device liveness of a center's shops (then `shop:status` events keep it current). */
export function registerShopHandlers(nsp: DispatchNamespace, deps: CommandDeps & { devices: DevicesService; statusSchema: typeof shopsStatusRequestSchema }): void {
  nsp.on('connection', (socket: DispatchSocket) => {
    const user = socket.data.user;
    socket.on(
      'shops:status',
      command(deps, 'shops:status', deps.statusSchema, async ({ centerId }) => {
        if (!policy.seeCenter(user, centerId)) throw new AppError('forbidden', 'You may not see this center');
        return deps.devices.shopsStatus(centerId);
      }),
    );
  });
}
