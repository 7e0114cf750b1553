/**
 * The ordering rule for every versioned row (deliveries, riders, orders), shared by the server,
 * the browser stores, snapshots, polling and reconnect resyncs. Order is decided only by values
 * the database assigns, never by a server's or a browser's clock:
 *
 * - **Row order**: a row's `version` is incremented by the UPDATE that changes it, under
 *   optimistic concurrency (`WHERE version = <read version>`), so each version of a row is written
 *   by exactly one committed transaction and higher means later. An incoming row replaces the held
 *   one only when its version is higher. `modDate` is stamped by the database for display only.
 * - **Watermarks**: every delivery change records the id of the transaction that wrote it
 *   (`txid`, PostgreSQL's `pg_current_xact_id()`). Transaction ids are handed out before commit, so
 *   "the highest txid I hold" is NOT a safe watermark (a lower id can commit later). Instead every
 *   full load and resync answer carries `asOf = pg_snapshot_xmin(pg_current_snapshot())`, read in
 *   the same database snapshot as its rows: every transaction below `asOf` had finished when the
 *   rows were read, so a later resync that asks for `txid >= asOf` misses nothing. A client's
 *   watermark only ever moves to such an `asOf` (never from live events); repeats are harmless.
 * - **Snapshot digests** list `[seq, version, status]` and carry the reading snapshot
 *   ({@link DbSnapshot}), so a client can tell whether a row it holds was visible to the digest.
 */
export interface Versioned {
  /** Database timestamp of the last committed change: for display only, never for ordering. */
  modDate: string;
  /** Incremented by every committed change of the row (by the UPDATE itself). */
  version: number;
}

/** True when `incoming` should replace `held`: it is a later version of the row. */
export function isNewer(incoming: Pick<Versioned, 'version'>, held: Pick<Versioned, 'version'> | undefined): boolean {
  if (!held) return true;
  return incoming.version > held.version;
}

/**
 * Merge `incoming` rows into `map` keyed by `key`, in place. Returns the rows that were applied
 * (an empty array means nothing changed, so callers can skip a re-render).
 */
export function mergeRows<K, R extends Pick<Versioned, 'version'>>(map: Map<K, R>, incoming: Iterable<R>, key: (row: R) => K): R[] {
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

/**
 * A PostgreSQL snapshot as `pg_current_snapshot()` reports it: transactions below `xmin` had
 * finished, those at or above `xmax` had not started, and those listed in `xip` were in progress.
 */
export interface DbSnapshot {
  xmin: number;
  xmax: number;
  xip: number[];
}

/**
 * The watermark a client may keep after an answer read in `snapshot`: its `xmin`. A resync then
 * asks for changes with `txid >= watermark`.
 */
export const watermarkOf = (snapshot: DbSnapshot): number => snapshot.xmin;

/** Whether a change written by transaction `txid` was committed and seen by a read in `snapshot`. */
export function visibleIn(snapshot: DbSnapshot, txid: number): boolean {
  if (txid < snapshot.xmin) return true;
  if (txid >= snapshot.xmax) return false;
  return !snapshot.xip.includes(txid);
}

/**
 * Parse PostgreSQL's text form of a snapshot, `xmin:xmax:xip,xip,...` (as `pg_current_snapshot()::text`
 * prints it). Throws on anything else.
 */
export function parseDbSnapshot(text: string): DbSnapshot {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!m) throw new Error(`not a PostgreSQL snapshot: ${text}`);
  const xip = m[3] ? m[3].split(',').map(Number) : [];
  return { xmin: Number(m[1]), xmax: Number(m[2]), xip };
}
