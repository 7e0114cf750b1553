import type { RawData } from 'ws';

/** A `ws` message as text: `ws` hands over a Buffer, a list of Buffers or an ArrayBuffer. */
export function rawText(raw: RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw).toString('utf8');
}
