'use client';
import { createContext, useContext, useRef, type ReactNode } from 'react';
import { useStore } from 'zustand';
import { createDeliveriesStore, type DeliveriesState, type DeliveriesStore } from './deliveries-store';

const StoreContext = createContext<DeliveriesStore | null>(null);

export function DeliveriesStoreProvider({ children }: { children: ReactNode }) {
  const ref = useRef<DeliveriesStore | null>(null);
  ref.current ??= createDeliveriesStore();
  return <StoreContext.Provider value={ref.current}>{children}</StoreContext.Provider>;
}

export function useDeliveriesStoreApi(): DeliveriesStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useDeliveries must be used inside DeliveriesStoreProvider');
  return store;
}

export function useDeliveries<T>(selector: (s: DeliveriesState) => T): T {
  return useStore(useDeliveriesStoreApi(), selector);
}
