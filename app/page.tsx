import { Dashboard } from './components/Dashboard';
import { DeliveriesStoreProvider } from './lib/store-context';

export default function DispatcherPage() {
  return (
    <DeliveriesStoreProvider>
      <Dashboard />
    </DeliveriesStoreProvider>
  );
}
