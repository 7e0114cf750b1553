/**
 * Coalesces identical reads. When thousands of clients ask for the same thing at once (a node
 * dies and its clients reconnect to the survivors, each resyncing its center from a watermark),
 * the database sees one read per key at a time instead of one per client.
 *
 * A request never receives a read that began before it arrived: while a read for a key runs, new
 * requests for that key wait and are all served by the next read, which starts when the current
 * one ends. So each answer is as fresh as one read started for that request alone, and a key has
 * at most one read running and one batch waiting.
 *
 * With `minIntervalMs`, reads of one key also start at least that far apart: a request that comes
 * within that time of the last read's start waits with the others for the next. In a reconnect
 * storm the returning clients arrive spread over many seconds, a few per read, and each read is
 * one more query through the data layer and the database on a core that is already full; spacing
 * the reads gathers more clients into each. A key that was not read for that long is read at once,
 * so a lone request never waits.
 */
export interface ReadBatcher<Req, Res> {
  read(req: Req): Promise<Res>;
  /** Reads run so far (the tests count them). */
  readonly reads: number;
}

interface Waiter<Req, Res> {
  req: Req;
  resolve: (res: Res) => void;
  reject: (err: unknown) => void;
}

interface KeyState<Req, Res> {
  running: boolean;
  waiting: Waiter<Req, Res>[];
  /** When the last read of this key started (ms since the epoch). */
  startedAt: number;
  /** Set while the key waits out `minIntervalMs` after its last read. */
  timer: ReturnType<typeof setTimeout> | null;
}

export function createReadBatcher<Req, Batch, Res>(opts: {
  /** Requests with the same key are served by one read. */
  key: (req: Req) => string;
  /** One read for every request of a batch (all share the key). */
  run: (reqs: readonly Req[]) => Promise<Batch>;
  /** Each request's answer out of its batch's read. */
  pick: (batch: Batch, req: Req) => Res;
  /** Least time between the starts of two reads of one key (default 0: the next starts when the last ends). */
  minIntervalMs?: number;
}): ReadBatcher<Req, Res> {
  const keys = new Map<string, KeyState<Req, Res>>();
  const minIntervalMs = opts.minIntervalMs ?? 0;
  let reads = 0;

  /** The key is not reading: read what waits now or once the interval has passed; forget an idle key. */
  const next = (key: string, state: KeyState<Req, Res>) => {
    const wait = state.startedAt + minIntervalMs - Date.now();
    if (wait > 0) {
      state.timer = setTimeout(() => {
        state.timer = null;
        next(key, state);
      }, wait);
    } else if (state.waiting.length > 0) start(key, state);
    else keys.delete(key);
  };

  const start = (key: string, state: KeyState<Req, Res>) => {
    const batch = state.waiting;
    state.waiting = [];
    state.running = true;
    state.startedAt = Date.now();
    reads++;
    let result: Promise<Batch>;
    try {
      result = opts.run(batch.map((w) => w.req));
    } catch (err) {
      // A read that throws before returning a promise fails its batch like one that rejects.
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    result
      .then(
        (value) => {
          for (const w of batch) {
            try {
              w.resolve(opts.pick(value, w.req));
            } catch (err) {
              w.reject(err);
            }
          }
        },
        (err: unknown) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        state.running = false;
        next(key, state);
      });
  };

  return {
    read(req) {
      const key = opts.key(req);
      let state = keys.get(key);
      if (!state) {
        state = { running: false, waiting: [], startedAt: -Infinity, timer: null };
        keys.set(key, state);
      }
      const s = state;
      const answer = new Promise<Res>((resolve, reject) => s.waiting.push({ req, resolve, reject }));
      // Running: the next read starts when it ends; waiting out the interval: the timer starts it.
      if (!s.running && !s.timer) next(key, s);
      return answer;
    },
    get reads() {
      return reads;
    },
  };
}
