import type { Metadata } from 'next';
import { Monitor } from './Monitor';

export const metadata: Metadata = { title: 'Monitor · Dispatch Desk' };

/** The operators' live monitor (admins only; the /monitor namespace refuses everyone else). */
export default function MonitorPage() {
  return <Monitor />;
}
