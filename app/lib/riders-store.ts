import { createStore } from 'zustand/vanilla';
import { mergeRows, type RiderPosition, type RiderRow } from '@/protocol';

export interface RidersState {
  riders: Map<number, RiderRow>;
  /** Latest shared positions (they arrive often and do not bump the rider's version). */
  positions: Map<number, RiderPosition>;
  revision: number;
  /** Riders and positions as of `revision`: a new object on every change, for memoized derivations. */
  view: RidersView;
  apply(rows: readonly RiderRow[]): void;
  position(pos: RiderPosition): void;
  reset(): void;
}

export interface RidersView {
  riders: ReadonlyMap<number, RiderRow>;
  positions: ReadonlyMap<number, RiderPosition>;
  revision: number;
}

/** The rider list of the followed centers, merged with the same rule as deliveries. */
export function createRidersStore() {
  return createStore<RidersState>()((set) => {
    const riders = new Map<number, RiderRow>();
    const positions = new Map<number, RiderPosition>();
    const bump = (s: RidersState) => ({ revision: s.revision + 1, view: { riders, positions, revision: s.revision + 1 } });
    return {
      riders,
      positions,
      revision: 0,
      view: { riders, positions, revision: 0 },
      apply(rows) {
        if (mergeRows(riders, rows, (r) => r.id).length > 0) set(bump);
      },
      position(pos) {
        const held = positions.get(pos.riderId);
        if (held && Date.parse(held.at) >= Date.parse(pos.at)) return;
        positions.set(pos.riderId, pos);
        set(bump);
      },
      reset() {
        riders.clear();
        positions.clear();
        set(bump);
      },
    };
  });
}
export type RidersStore = ReturnType<typeof createRidersStore>;
