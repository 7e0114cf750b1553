import type { ErrorBody, ErrorCode } from '@/protocol';

/**
 * The rider's offline action queue: pure logic plus optional persistence in a key-value store
 * (the browser passes localStorage). Framework-free, so unit tests run it directly.
 *
 * Every rider action is put here first with its idempotency key, then sent in order. An action
 * leaves the queue when the server answered (accepted or refused it). When the server cannot be
 * reached (socket down, ack timed out, server unavailable) it stays, keeps its key, and is sent
 * again later; the server's idempotency records make a repeated send harmless.
 */
export type RiderActionKind = 'pick_up' | 'deliver';

/** The /dispatch command for each action. */
export const ACTION_COMMAND = { pick_up: 'delivery:pick_up', deliver: 'delivery:deliver' } as const satisfies Record<RiderActionKind, string>;

export interface QueuedAction {
  /** Created once per action (tap) and kept on every retry. */
  idempotencyKey: string;
  kind: RiderActionKind;
  deliverySeq: number;
  /** When the rider tapped (ms since epoch). */
  createdAt: number;
  /** Sends that did not reach the server. */
  attempts: number;
}

/** The part of the Web Storage API the queue needs. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface ActionQueue {
  /** Actions in the order they were taken (needs no `this`: hand it to useSyncExternalStore as is). */
  list: () => readonly QueuedAction[];
  size(): number;
  has(idempotencyKey: string): boolean;
  /** Append an action (an already queued key is not added twice). */
  enqueue(action: Omit<QueuedAction, 'attempts'> & { attempts?: number }): QueuedAction;
  /** Remove an answered action; false when it was not there. */
  remove(idempotencyKey: string): boolean;
  /** Count a send that did not reach the server. */
  markAttempt(idempotencyKey: string): void;
  /** Re-read the persisted queue (another tab changed it). */
  reload(): void;
  /** Called after every change; returns the unsubscribe function (needs no `this`). */
  subscribe: (listener: () => void) => () => void;
}

const KINDS: readonly string[] = ['pick_up', 'deliver'];
const KEY_RE = /^[A-Za-z0-9_:.-]{8,100}$/;

function isQueuedAction(v: unknown): v is QueuedAction {
  if (!v || typeof v !== 'object') return false;
  const a = v as Record<string, unknown>;
  return (
    typeof a.idempotencyKey === 'string' &&
    KEY_RE.test(a.idempotencyKey) &&
    typeof a.kind === 'string' &&
    KINDS.includes(a.kind) &&
    typeof a.deliverySeq === 'number' &&
    Number.isInteger(a.deliverySeq) &&
    a.deliverySeq > 0 &&
    typeof a.createdAt === 'number' &&
    Number.isFinite(a.createdAt) &&
    typeof a.attempts === 'number' &&
    Number.isInteger(a.attempts) &&
    a.attempts >= 0
  );
}

/** Parse a persisted queue, dropping anything malformed instead of failing. */
export function parseQueue(raw: string | null): QueuedAction[] {
  if (!raw) return [];
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(data)) return [];
  const seen = new Set<string>();
  const out: QueuedAction[] = [];
  for (const item of data) {
    if (!isQueuedAction(item) || seen.has(item.idempotencyKey)) continue;
    seen.add(item.idempotencyKey);
    out.push({
      idempotencyKey: item.idempotencyKey,
      kind: item.kind,
      deliverySeq: item.deliverySeq,
      createdAt: item.createdAt,
      attempts: item.attempts,
    });
  }
  return out;
}

export function createActionQueue(opts: { storage?: KeyValueStorage | null; storageKey: string }): ActionQueue {
  const storage = opts.storage ?? null;
  const listeners = new Set<() => void>();

  const read = (): QueuedAction[] => {
    if (!storage) return [];
    try {
      return parseQueue(storage.getItem(opts.storageKey));
    } catch {
      return []; // storage blocked (private mode, policy): keep the queue in memory only
    }
  };
  let items: QueuedAction[] = read();

  function commit(next: QueuedAction[]) {
    items = next;
    if (storage) {
      try {
        if (items.length === 0) storage.removeItem(opts.storageKey);
        else storage.setItem(opts.storageKey, JSON.stringify(items));
      } catch {
        // Quota or a blocked storage: the queue still works for this page's life.
      }
    }
    for (const l of [...listeners]) l();
  }

  return {
    list: () => items,
    size: () => items.length,
    has: (key) => items.some((a) => a.idempotencyKey === key),
    enqueue(action) {
      const existing = items.find((a) => a.idempotencyKey === action.idempotencyKey);
      if (existing) return existing;
      const entry: QueuedAction = {
        idempotencyKey: action.idempotencyKey,
        kind: action.kind,
        deliverySeq: action.deliverySeq,
        createdAt: action.createdAt,
        attempts: action.attempts ?? 0,
      };
      commit([...items, entry]);
      return entry;
    },
    remove(key) {
      if (!items.some((a) => a.idempotencyKey === key)) return false;
      commit(items.filter((a) => a.idempotencyKey !== key));
      return true;
    },
    markAttempt(key) {
      if (!items.some((a) => a.idempotencyKey === key)) return;
      commit(items.map((a) => (a.idempotencyKey === key ? { ...a, attempts: a.attempts + 1 } : a)));
    },
    reload() {
      items = read();
      for (const l of [...listeners]) l();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** What one send of an action came to. */
export type SendOutcome<R> =
  | { type: 'ok'; row: R }
  /** The server answered with an error: final, the action leaves the queue. */
  | { type: 'rejected'; error: ErrorBody }
  /** Never reached the server, or no answer: the action stays queued. */
  | { type: 'unreachable'; reason: string };

/** Server errors that mean "try again later" rather than "no". */
const RETRYABLE: readonly ErrorCode[] = ['unavailable', 'rate_limited'];
export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.includes(code);
}

export interface DrainHooks<R> {
  /** Checked before each send: false stops the drain (e.g. the socket is down). */
  canSend?: () => boolean;
  onSending?: (action: QueuedAction) => void;
  onResult?: (action: QueuedAction, outcome: SendOutcome<R>) => void;
}

/**
 * Send queued actions one by one, oldest first. Stops at the first one that cannot reach the
 * server (it and everything after it stay queued, in order). A retryable server error counts
 * as unreachable.
 */
export async function drainQueue<R>(
  queue: ActionQueue,
  send: (action: QueuedAction) => Promise<SendOutcome<R>>,
  hooks: DrainHooks<R> = {},
): Promise<{ sent: number; remaining: number }> {
  let sent = 0;
  for (;;) {
    if (hooks.canSend && !hooks.canSend()) break;
    const head = queue.list()[0];
    if (!head) break;
    hooks.onSending?.(head);
    let outcome: SendOutcome<R>;
    try {
      outcome = await send(head);
    } catch (err) {
      outcome = { type: 'unreachable', reason: err instanceof Error ? err.message : String(err) };
    }
    if (outcome.type === 'rejected' && isRetryable(outcome.error.code)) {
      outcome = { type: 'unreachable', reason: outcome.error.message };
    }
    if (outcome.type === 'unreachable') {
      queue.markAttempt(head.idempotencyKey);
      hooks.onResult?.(head, outcome);
      break;
    }
    queue.remove(head.idempotencyKey);
    sent += 1;
    hooks.onResult?.(head, outcome);
  }
  return { sent, remaining: queue.size() };
}

/**
 * A drain that never runs twice at once: a call while one is running makes it go round once
 * more when it finishes (so actions queued meanwhile are not left behind).
 */
export function createDrainer<R>(
  queue: ActionQueue,
  send: (action: QueuedAction) => Promise<SendOutcome<R>>,
  hooks: DrainHooks<R> = {},
): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const loop = async () => {
    for (;;) {
      again = false;
      const { remaining } = await drainQueue(queue, send, hooks);
      // Stopped early (socket down, or no answer): going round now would only fail again; the
      // next reconnect or retry tick calls again.
      if (remaining > 0 || !again) break;
    }
  };
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = loop().finally(() => {
      running = null;
    });
    return running;
  };
}

/** An idempotency key: a UUID where the browser offers one (secure contexts), else 128 random bits. */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = c.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
