import { io } from 'socket.io-client';
import { createDeliverySync, type DeliverySync, type DeliverySyncOptions, type DispatchClientSocket } from '../../app/lib/delivery-sync';
import { NAMESPACES, createRowStore, type DeliveryRow, type DeliverySyncResponse, type RowStore } from '../../protocol';
import type { TestApp } from './app';

/**
 * Resolve once `cond` holds (checked every `everyMs`), or reject after `timeoutMs` with `label`
 * and, when given, `explain()` for what was seen last. Conditions may be async.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  label = 'condition',
  explain?: () => string | Promise<string>,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) {
      const why = explain ? `: ${await explain()}` : '';
      throw new Error(`${label} not met within ${timeoutMs} ms${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A real, auto-reconnecting /dispatch client running the browser's sync engine in Node. */
export interface SyncClient {
  socket: DispatchClientSocket;
  store: RowStore & { rows: Map<number, DeliveryRow> };
  engine: DeliverySync;
  /** How many times the engine called the REST delta (polling). */
  fetchCalls(): number;
  close(): void;
}

export function startSyncClient(
  t: TestApp,
  token: string,
  centerId: number,
  opts: Partial<Pick<DeliverySyncOptions, 'pollAfterMs' | 'pollEveryMs'>> = {},
): SyncClient {
  const socket: DispatchClientSocket = io(`${t.url}${NAMESPACES.dispatch}`, {
    transports: ['websocket'],
    forceNew: true,
    auth: { token },
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  const store = createRowStore();
  let calls = 0;
  const engine = createDeliverySync({
    socket,
    store,
    centers: { ids: [centerId], all: false },
    fetchDelta: async (c, sinceTx) => {
      calls += 1;
      const url = new URL(`${t.url}/api/centers/${c}/deliveries`);
      if (sinceTx !== undefined) url.searchParams.set('sinceTx', String(sinceTx));
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      if (!res.ok) throw new Error(`GET ${url.pathname}${url.search}: ${res.status}`);
      return (await res.json()) as DeliverySyncResponse;
    },
    pollAfterMs: opts.pollAfterMs ?? 300,
    pollEveryMs: opts.pollEveryMs ?? 300,
  });
  return {
    socket,
    store,
    engine,
    fetchCalls: () => calls,
    close() {
      engine.stop();
      socket.io.reconnection(false);
      socket.disconnect();
    },
  };
}

/**
 * Differences between what a store holds for a center and the rows the server would list for it
 * (same deliverySeq set; per row the same version, status, modDate and riderId). Empty when equal.
 */
export async function storeVsDb(t: TestApp, store: RowStore, centerId: number): Promise<string[]> {
  const db = (await t.app.services.deliveries.listForCenter(centerId)).rows;
  const held = new Map<number, DeliveryRow>();
  for (const r of store.values()) if (r.centerId === centerId) held.set(r.deliverySeq, r);
  const diffs: string[] = [];
  for (const d of db) {
    const h = held.get(d.deliverySeq);
    if (!h) {
      diffs.push(`#${d.deliverySeq} missing (db: ${d.status} v${d.version})`);
      continue;
    }
    held.delete(d.deliverySeq);
    if (h.version !== d.version || h.status !== d.status || h.modDate !== d.modDate || h.riderId !== d.riderId) {
      diffs.push(
        `#${d.deliverySeq} held ${h.status} v${h.version} ${h.modDate} rider ${h.riderId}, db ${d.status} v${d.version} ${d.modDate} rider ${d.riderId}`,
      );
    }
  }
  for (const h of held.values()) diffs.push(`#${h.deliverySeq} held but not listed (${h.status} v${h.version})`);
  return diffs;
}

/** Wait until the store equals the database for the center. */
export async function waitUntilEqual(t: TestApp, client: SyncClient, centerId: number, timeoutMs = 10_000): Promise<void> {
  let last: string[] = [];
  await waitFor(
    async () => (last = await storeVsDb(t, client.store, centerId)).length === 0,
    timeoutMs,
    'store equal to the database',
    () => `${last.length} differences: ${last.slice(0, 10).join('; ')}; status ${JSON.stringify(client.engine.status())}`,
    50,
  );
}

/** A command round trip on the socket: every event emitted before it was answered has arrived. */
export async function roundTrip(socket: DispatchClientSocket): Promise<void> {
  await socket.timeout(5000).emitWithAck('centers:list', {});
}

/** Move a waiting delivery through the given steps with a test actor. */
export async function advance(
  t: TestApp,
  deliverySeq: number,
  riderId: number,
  steps: readonly ('assign' | 'pick_up' | 'deliver')[],
): Promise<DeliveryRow> {
  const svc = t.app.services.deliveries;
  const actor = { label: 'test' };
  let row: DeliveryRow | undefined;
  for (const step of steps) {
    if (step === 'assign') row = await svc.assign(deliverySeq, riderId, actor);
    else if (step === 'pick_up') row = await svc.pickUp(deliverySeq, actor);
    else row = await svc.deliver(deliverySeq, actor);
  }
  if (!row) throw new Error('advance: no steps');
  return row;
}
