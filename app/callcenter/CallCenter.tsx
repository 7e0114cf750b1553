'use client';
import { useCallback, useEffect, useMemo, useReducer, useRef, useState, type KeyboardEvent } from 'react';
import { DELIVERY_EVENTS, type DeliveryRow, type OrderRow, type Role, type SessionUser } from '@/protocol';
import { ccRequest, connectCallcenter, effectiveOrderStatus, type CallcenterSocket, type OrderDetail, type ServerError } from '../lib/callcenter';
import { getJson } from '../lib/http';
import { useSocketLifetime } from '../lib/socket';
import { HOME_BY_ROLE, logout, useSession } from '../lib/session';
import { CcConnection, type CcLink } from './CcConnection';
import { detailReducer, type DetailState } from './detail-state';
import { UserChip } from '../components/UserChip';
import { OrderDetailPanel } from './OrderDetailPanel';
import { RESULTS_ID, ResultsList, optionId } from './ResultsList';

const ALLOWED_ROLES: readonly Role[] = ['callcenter', 'hq', 'admin'];
const SEARCH_DEBOUNCE_MS = 250;
/** After a delivery:cancelled, how long to wait for its order:cancelled before asking the server. */
const REASON_GRACE_MS = 1500;

const noop = () => undefined;

function readOrderFromUrl(): string | null {
  const v = new URLSearchParams(window.location.search).get('order');
  return v && /^[A-Za-z0-9_-]{1,64}$/.test(v) ? v : null;
}

function writeOrderToUrl(orderNo: string | null): void {
  const url = new URL(window.location.href);
  if (orderNo) url.searchParams.set('order', orderNo);
  else url.searchParams.delete('order');
  if (url.href !== window.location.href) window.history.replaceState(window.history.state, '', url);
}

function loadError(orderNo: string, err: unknown): string {
  const e = err as ServerError;
  if (e.code === 'not_found') return `Order ${orderNo} was not found.`;
  if (e.code === 'forbidden') return 'You may not look up orders.';
  return `The order could not be loaded: ${e.message || 'no answer from the server'}.`;
}

/** The page: signed-in agents (and HQ, admins) get the desk; other roles a clear message. */
export function CallCenter() {
  const user = useSession();
  if (!user) {
    return (
      <div className="cc-shell">
        <p className="cc-center-msg cc-muted">Loading…</p>
      </div>
    );
  }
  if (!ALLOWED_ROLES.includes(user.role)) return <NotForRole user={user} />;
  return <Desk user={user} />;
}

function NotForRole({ user }: { user: SessionUser }) {
  return (
    <div className="cc-shell">
      <div className="cc-center-msg" role="alert" data-testid="cc-forbidden">
        <h1>Call center</h1>
        <p>
          This screen is not for your role ({user.role}). It is for call-center agents, headquarters and admins.
        </p>
        <p>
          <a href={HOME_BY_ROLE[user.role]}>Go to your start page</a> ·{' '}
          <button type="button" className="cc-linkbtn" onClick={() => void logout()}>
            Sign in as someone else
          </button>
        </p>
      </div>
    </div>
  );
}

function Desk({ user }: { user: SessionUser }) {
  // ---- connection -----------------------------------------------------------------------------
  // One socket for the desk's life: created closed, opened while mounted.
  const socket: CallcenterSocket = useMemo(() => connectCallcenter(), []);
  useSocketLifetime(socket);
  const [link, setLink] = useState<CcLink>('connecting');
  const [downSince, setDownSince] = useState<number | null>(null);
  const [lastReconnectAt, setLastReconnectAt] = useState<number | null>(null);

  useEffect(() => {
    const s = socket;
    let everConnected = false;
    const onConnect = () => {
      setLink('live');
      setDownSince(null);
      if (everConnected) setLastReconnectAt(Date.now());
      everConnected = true;
    };
    const onDisconnect = (reason: string) => {
      setLink('reconnecting');
      setDownSince((d) => d ?? Date.now());
      // The server closed us on purpose (e.g. a restart): Socket.IO will not retry by itself.
      if (reason === 'io server disconnect') s.connect();
    };
    const onConnectError = (err: Error) => {
      if (err.message === 'unauthorized') {
        window.location.replace(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
        return;
      }
      setLink('reconnecting');
      setDownSince((d) => d ?? Date.now());
    };
    s.on('connect', onConnect);
    s.on('disconnect', onDisconnect);
    s.on('connect_error', onConnectError);
    return () => {
      s.off('connect', onConnect);
      s.off('disconnect', onDisconnect);
      s.off('connect_error', onConnectError);
    };
  }, [socket]);

  // ---- search ---------------------------------------------------------------------------------
  const searchRef = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<OrderRow[] | null>(null);
  const [searchedTerm, setSearchedTerm] = useState<string | null>(null);
  const [searching, setSearching] = useState(true);
  const [searchError, setSearchError] = useState<string | null>(null);
  const [active, setActive] = useState(-1);
  const searchSeq = useRef(0);
  const debounce = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  /** Ask for `raw`'s results; every state change happens when the answer comes. */
  const fetchResults = useCallback((raw: string) => {
    clearTimeout(debounce.current);
    const term = raw.trim();
    const seq = ++searchSeq.current;
    const s = socket;
    const rest = () => getJson<OrderRow[]>(`/api/orders?q=${encodeURIComponent(term)}`);
    const ask = s.connected ? ccRequest(s, 'orders:search', { q: term }, 5000).catch((err: ServerError) => (err.code ? Promise.reject(err) : rest())) : rest();
    ask.then(
      (rows) => {
        if (seq !== searchSeq.current) return;
        setResults(rows);
        setSearchedTerm(term);
        setActive(-1);
        setSearchError(null);
        setSearching(false);
      },
      (err: Error) => {
        if (seq !== searchSeq.current) return;
        setSearchError(`Search failed: ${err.message}`);
        setSearching(false);
      },
    );
  }, [socket]);

  const runSearch = useCallback(
    (raw: string) => {
      setSearching(true);
      fetchResults(raw);
    },
    [fetchResults],
  );

  // Newest orders at once (the list starts as searching); then search as the agent types (debounced).
  useEffect(() => fetchResults(''), [fetchResults]);
  useEffect(() => {
    if (searchedTerm === null || query.trim() === searchedTerm) return;
    debounce.current = setTimeout(() => runSearch(query), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(debounce.current);
  }, [query, searchedTerm, runSearch]);

  // ---- the open order -------------------------------------------------------------------------
  const [detail, dispatch] = useReducer(detailReducer, null);
  /** The open order, for socket and key handlers (kept in step after every render). */
  const detailRef = useRef<DetailState | null>(null);
  useEffect(() => {
    detailRef.current = detail;
  }, [detail]);
  const openOrderNo = detail?.orderNo ?? null;

  const openOrder = useCallback((orderNo: string, row?: OrderRow) => {
    dispatch({ type: 'open', orderNo, ...(row ? { row } : {}) });
    writeOrderToUrl(orderNo);
  }, []);
  const closeOrder = useCallback(() => {
    dispatch({ type: 'close' });
    writeOrderToUrl(null);
    searchRef.current?.focus();
  }, []);

  // A reload keeps the open order.
  useEffect(() => {
    const fromUrl = readOrderFromUrl();
    if (fromUrl) openOrder(fromUrl);
  }, [openOrder]);

  // Watch the open order's room: its detail from the ack, then its events. Every (re)connect
  // watches again and refreshes, since a restarted server remembers nothing for us.
  useEffect(() => {
    if (!socket || !openOrderNo) return;
    const orderNo = openOrderNo;
    let alive = true;
    let reasonTimer: ReturnType<typeof setTimeout> | undefined;

    const fromRest = () =>
      getJson<OrderDetail>(`/api/orders/${encodeURIComponent(orderNo)}`).then(
        (d) => alive && dispatch({ type: 'detail', orderNo, detail: d }),
        (err: unknown) => alive && dispatch({ type: 'error', orderNo, message: loadError(orderNo, err) }),
      );
    const load = () => {
      if (!socket.connected) {
        void fromRest(); // show it now; the connect handler watches once the link is back
        return;
      }
      ccRequest(socket, 'order:watch', { orderNo }).then(
        (d) => {
          if (alive) dispatch({ type: 'detail', orderNo, detail: d, watched: true });
          else if (socket.connected) socket.emit('order:unwatch', { orderNo }, noop); // closed meanwhile
        },
        (err: ServerError) => {
          if (!alive) return;
          if (err.code) dispatch({ type: 'error', orderNo, message: loadError(orderNo, err) });
          else void fromRest(); // no answer in time: at least show the current state
        },
      );
    };
    const onOrder = (row: OrderRow) => {
      if (row.orderNo === orderNo) dispatch({ type: 'order', row });
    };
    const onDelivery = (row: DeliveryRow) => {
      if (row.orderNo !== orderNo) return;
      dispatch({ type: 'delivery', row });
      if (row.status === 'cancelled') {
        // order:cancelled (with the reason) follows at once; if it got lost, ask for the order.
        clearTimeout(reasonTimer);
        reasonTimer = setTimeout(() => {
          const d = detailRef.current;
          if (alive && d?.orderNo === orderNo && d.order?.status !== 'cancelled') load();
        }, REASON_GRACE_MS);
      }
    };

    socket.on('order:cancelled', onOrder);
    for (const e of DELIVERY_EVENTS) socket.on(e, onDelivery);
    const onDown = () => dispatch({ type: 'unwatched' });
    socket.on('connect', load);
    socket.on('disconnect', onDown);
    load();
    return () => {
      alive = false;
      clearTimeout(reasonTimer);
      socket.off('order:cancelled', onOrder);
      for (const e of DELIVERY_EVENTS) socket.off(e, onDelivery);
      socket.off('connect', load);
      socket.off('disconnect', onDown);
      if (socket.connected) socket.emit('order:unwatch', { orderNo }, noop);
    };
  }, [socket, openOrderNo]);

  const onCancelled = useCallback((d: OrderDetail) => dispatch({ type: 'detail', orderNo: d.order.orderNo, detail: d }), []);

  // ---- keyboard -------------------------------------------------------------------------------
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      const t = e.target instanceof HTMLElement ? e.target : null;
      const typing = !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (e.key === '/' && !typing) {
        e.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
      } else if (e.key === 'Escape' && detailRef.current) {
        e.preventDefault();
        closeOrder();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [closeOrder]);

  const rows = results ?? [];
  const pending = query.trim() !== searchedTerm;
  const onNavKey = (e: KeyboardEvent<HTMLElement>) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (rows.length === 0) return;
      const step = e.key === 'ArrowDown' ? 1 : -1;
      setActive((i) => (i < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, i + step))));
    } else if (e.key === 'Home' && e.currentTarget.id === RESULTS_ID) {
      e.preventDefault();
      setActive(rows.length ? 0 : -1);
    } else if (e.key === 'End' && e.currentTarget.id === RESULTS_ID) {
      e.preventDefault();
      setActive(rows.length - 1);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const row = rows[active];
      // Enter in the box searches at once while the answer is stale; otherwise it opens.
      if (e.currentTarget === searchRef.current && (pending || !row)) runSearch(query);
      else if (row) openOrder(row.orderNo, row);
    } else if (e.key === 'Escape' && e.currentTarget === searchRef.current && !detailRef.current && query) {
      e.preventDefault();
      setQuery('');
    }
  };

  const openStatus = detail?.order ? effectiveOrderStatus(detail.order, detail.delivery) : null;
  const activeNo = rows[active]?.orderNo;
  return (
    <div className="cc-shell">
      <header className="cc-topbar">
        <h1>
          Dispatch Desk <span className="cc-sub">Call center</span>
        </h1>
        <CcConnection link={link} downSince={downSince} lastReconnectAt={lastReconnectAt} />
        <UserChip user={user} className="cc-user" />
      </header>

      <div className="cc-searchbar" role="search">
        <label htmlFor="cc-search" className="sr-only">
          Search orders
        </label>
        <input
          id="cc-search"
          ref={searchRef}
          className="cc-search"
          data-testid="cc-search"
          type="text"
          role="combobox"
          aria-expanded={rows.length > 0}
          aria-controls={RESULTS_ID}
          aria-autocomplete="list"
          aria-activedescendant={activeNo ? optionId(activeNo) : undefined}
          autoComplete="off"
          spellCheck={false}
          placeholder="Order no, customer name, shop or phone   ( / )"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={onNavKey}
          autoFocus
        />
        <span className="cc-search-state" aria-live="polite" data-testid="cc-search-state">
          {searching || pending
            ? 'Searching…'
            : searchError
              ? ''
              : `${rows.length}${rows.length >= 50 ? '+' : ''} ${searchedTerm ? `match${rows.length === 1 ? '' : 'es'}` : 'latest orders'}`}
        </span>
        <span className="cc-keys cc-muted" aria-hidden>
          ↑↓ move · Enter open · Esc close
        </span>
      </div>
      {searchError && (
        <p className="cc-error" role="alert" data-testid="cc-search-error">
          {searchError}
        </p>
      )}

      <main className="cc-main">
        <section className="cc-list" aria-label="Search results">
          <div className="cc-result cc-head" aria-hidden>
            <span>Order</span>
            <span>Created</span>
            <span>Customer</span>
            <span>Shop</span>
            <span>Status</span>
            <span className="cc-r-total">Total</span>
          </div>
          {results !== null && rows.length === 0 ? (
            <p className="cc-empty" data-testid="cc-no-results">
              No orders match “{searchedTerm}”. Try part of the order number, the customer’s name, the shop or the phone number.
            </p>
          ) : (
            <ResultsList
              rows={rows}
              active={active}
              openOrderNo={openOrderNo}
              openStatus={openStatus}
              onActivate={setActive}
              onOpen={(r) => openOrder(r.orderNo, r)}
              onKeyDown={onNavKey}
            />
          )}
          {rows.length >= 50 && <p className="cc-foot cc-muted">Showing the 50 newest matches: type more to narrow down.</p>}
        </section>
        {detail ? (
          <OrderDetailPanel state={detail} onClose={closeOrder} onCancelled={onCancelled} />
        ) : (
          <section className="cc-detail cc-detail-empty" aria-label="Order detail">
            <p className="cc-muted">
              Search and open an order to see its customer, items, delivery and rider. Press <kbd>/</kbd> to search, <kbd>↑</kbd>
              <kbd>↓</kbd> and <kbd>Enter</kbd> to open, <kbd>Esc</kbd> to close.
            </p>
          </section>
        )}
      </main>
    </div>
  );
}
