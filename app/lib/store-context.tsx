'use client';
import { createContext, useContext, useState, type ReactNode } from 'react';
import { useStore } from 'zustand';
import { createDeliveriesStore, type DeliveriesState, type DeliveriesStore } from './deliveries-store';

const StoreContext = createContext<DeliveriesStore | null>(null);

export function DeliveriesStoreProvider({ children }: { children: ReactNode }) {
  // One store per provider, made on its first render and kept for its life.
  const [store] = useState(createDeliveriesStore);
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

export function useDeliveriesStoreApi(): DeliveriesStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useDeliveries must be used inside DeliveriesStoreProvider');
  return store;
}

export function useDeliveries<T>(selector: (s: DeliveriesState) => T): T {
  return useStore(useDeliveriesStoreApi(), selector);
}
