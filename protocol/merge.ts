/**
 * The one merge rule for delivery rows (and any other versioned row), shared by the server,
 * the browser store, snapshots, polling and reconnect resyncs.
 *
 * An incoming row replaces the held one only when its modDate is newer, or when modDates are
 * equal and its version is higher. Stale, duplicated and reordered events are therefore harmless.
 */
export interface Versioned {
  /** ISO-8601 timestamp of the last committed change. */
  modDate: string;
  /** Incremented on every committed change. */
  version: number;
}

/** True when `incoming` should replace `held`. */
export function isNewer(incoming: Versioned, held: Versioned | undefined): boolean {
  if (!held) return true;
  const a = Date.parse(incoming.modDate);
  const b = Date.parse(held.modDate);
  if (a !== b) return a > b;
  return incoming.version > held.version;
}

/**
 * Merge `incoming` rows into `map` keyed by `key`, in place. Returns the rows that were applied
 * (an empty array means nothing changed, so callers can skip a re-render).
 */
export function mergeRows<K, R extends Versioned>(
  map: Map<K, R>,
  incoming: Iterable<R>,
  key: (row: R) => K,
): R[] {
  const applied: R[] = [];
  for (const row of incoming) {
    const k = key(row);
    if (isNewer(row, map.get(k))) {
      map.set(k, row);
      applied.push(row);
    }
  }
  return applied;
}

/** The newest modDate among rows, or undefined for none: a client's watermark. */
export function newestModDate(rows: Iterable<Versioned>): string | undefined {
  let best: string | undefined;
  let bestMs = -Infinity;
  for (const r of rows) {
    const ms = Date.parse(r.modDate);
    if (ms > bestMs) {
      bestMs = ms;
      best = r.modDate;
    }
  }
  return best;
}
