import type { Metadata } from 'next';
import { CallCenter } from './CallCenter';
import './callcenter.css';

export const metadata: Metadata = { title: 'Call center · Dispatch Desk' };

export default function CallCenterPage() {
  return <CallCenter />;
}
