import { createStore } from 'zustand/vanilla';
import { mergeRows, type RiderPosition, type RiderRow } from '@/protocol';

export interface RidersState {
  riders: Map<number, RiderRow>;
  /** Latest shared positions (they arrive often and do not bump the rider's version). */
  positions: Map<number, RiderPosition>;
  revision: number;
  apply(rows: readonly RiderRow[]): void;
  position(pos: RiderPosition): void;
  reset(): void;
}

/** The rider list of the followed centers, merged with the same rule as deliveries. */
export function createRidersStore() {
  return createStore<RidersState>()((set) => {
    const riders = new Map<number, RiderRow>();
    const positions = new Map<number, RiderPosition>();
    return {
      riders,
      positions,
      revision: 0,
      apply(rows) {
        if (mergeRows(riders, rows, (r) => r.id).length > 0) set((s) => ({ revision: s.revision + 1 }));
      },
      position(pos) {
        const held = positions.get(pos.riderId);
        if (held && Date.parse(held.at) >= Date.parse(pos.at)) return;
        positions.set(pos.riderId, pos);
        set((s) => ({ revision: s.revision + 1 }));
      },
      reset() {
        riders.clear();
        positions.clear();
        set((s) => ({ revision: s.revision + 1 }));
      },
    };
  });
}
export type RidersStore = ReturnType<typeof createRidersStore>;
