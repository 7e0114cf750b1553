'use client';
import { useCallback, useEffect, useMemo, useState, type KeyboardEvent } from 'react';
import type { DeliveryRow, DeliveryStatus, SessionUser } from '@/protocol';
import { ChatPanel } from '../components/ChatPanel';
import type { QueuedAction } from '../lib/action-queue';
import { logout } from '../lib/session';
import { ACTION_LABEL, ActionState, DeliveryCard, time, type CardAction } from './DeliveryCard';
import { LocationShare } from './LocationShare';
import { clearRiderStorage, useRiderDispatch, type ActionView, type RiderLink } from './use-rider-dispatch';

type Tab = 'deliveries' | 'chat';
const TABS: readonly Tab[] = ['deliveries', 'chat'];

const LINK_LABEL: Record<RiderLink, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};
const LINK_TITLE: Record<RiderLink, string> = {
  connecting: 'Opening the live connection',
  live: 'Connected: new deliveries and your taps go through at once',
  reconnecting: 'The connection dropped; retrying. Your taps are kept and sent when it is back.',
  offline: 'No network. Your taps are kept on this phone and sent when you are back online.',
};

/** Cancelled deliveries of the rider stay on screen this long (so a cancellation is noticed). */
const CANCELLED_VISIBLE_MS = 30 * 60_000;

const isActive = (s: DeliveryStatus) => s === 'assigned' || s === 'picked_up';
const sameDay = (iso: string | null, now: Date) => !!iso && new Date(iso).toDateString() === now.toDateString();

function readTab(): Tab {
  return typeof window !== 'undefined' && window.location.hash === '#chat' ? 'chat' : 'deliveries';
}

/** What the card of `seq` says about its actions, and whether one is on its way right now. */
function cardActionOf(seq: number, views: readonly ActionView[], queued: readonly QueuedAction[], link: RiderLink): { action: CardAction | null; inFlight: boolean } {
  const mine = views.filter((v) => v.deliverySeq === seq).sort((a, b) => a.at - b.at);
  const waiting = queued.filter((q) => q.deliverySeq === seq);
  const sending = link === 'live' ? mine.find((v) => v.phase === 'pending' && waiting.some((q) => q.idempotencyKey === v.idempotencyKey)) : undefined;
  if (sending) return { action: { phase: 'pending', text: `Sending “${ACTION_LABEL[sending.kind]}”…` }, inFlight: true };
  const first = waiting[0];
  if (first) {
    const what = waiting.length === 1 ? `“${ACTION_LABEL[first.kind]}” queued` : `${waiting.length} actions queued`;
    return { action: { phase: 'queued', text: `${what} — will send when back online` }, inFlight: false };
  }
  const last = mine.at(-1);
  if (!last) return { action: null, inFlight: false };
  if (last.phase === 'error') {
    return { action: { phase: 'error', text: `“${ACTION_LABEL[last.kind]}” not done: ${last.message ?? 'refused by the server'}` }, inFlight: false };
  }
  if (last.phase === 'confirmed') {
    return {
      action: { phase: 'confirmed', text: `“${ACTION_LABEL[last.kind]}” confirmed at ${new Date(last.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` },
      inFlight: false,
    };
  }
  return { action: null, inFlight: false };
}

/** The status a row will have once the rider's queued actions for it are through. */
function projectedStatus(row: DeliveryRow, queued: readonly QueuedAction[]): DeliveryStatus {
  let s = row.status;
  for (const q of queued) {
    if (q.deliverySeq !== row.deliverySeq) continue;
    if (q.kind === 'pick_up' && s === 'assigned') s = 'picked_up';
    else if (q.kind === 'deliver' && s === 'picked_up') s = 'delivered';
  }
  return s;
}

/** The rider's phone screen: today's work, big buttons, honest connection state, center chat. */
export function RiderScreen({ user }: { user: SessionUser }) {
  const { rowsView, socket, link, views, queued, loadError, act, dismiss } = useRiderDispatch(user);
  // This screen renders only in the browser (after the session is known), so the URL can seed the tab.
  const [tab, setTab] = useState<Tab>(readTab);
  const [chatOpened, setChatOpened] = useState(() => readTab() === 'chat');
  const [hidden, setHidden] = useState<ReadonlySet<number>>(() => new Set());

  const chooseTab = useCallback((t: Tab) => {
    setTab(t);
    if (t === 'chat') setChatOpened(true);
    const url = new URL(window.location.href);
    url.hash = t === 'chat' ? 'chat' : '';
    window.history.replaceState(null, '', url);
  }, []);

  useEffect(() => {
    document.title = 'Rider · Dispatch Desk';
  }, []);

  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const i = TABS.indexOf(tab);
    const next = e.key === 'Home' ? TABS[0] : e.key === 'End' ? TABS[TABS.length - 1] : TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
    if (next) {
      chooseTab(next);
      document.getElementById(`rider-tab-${next}`)?.focus();
    }
  };

  const onDismiss = useCallback(
    (seq: number) => {
      dismiss(seq);
      setHidden((h) => new Set(h).add(seq));
    },
    [dismiss],
  );

  const viewList = useMemo(() => Object.values(views), [views]);
  const { cards, done } = useMemo(() => {
    const now = new Date();
    const rows = [...rowsView.store.values()];
    const withWork = new Set<number>([
      ...queued.map((q) => q.deliverySeq),
      ...viewList.filter((v) => v.phase === 'pending' || v.phase === 'error').map((v) => v.deliverySeq),
    ]);
    const mine = rows.filter((r) => r.riderId === user.riderId);
    const active = mine.filter((r) => isActive(r.status));
    const activeSeqs = new Set(active.map((r) => r.deliverySeq));
    // Finished or reassigned rows the rider still has something to see about: a queued or refused
    // tap, or a cancellation of their delivery a moment ago.
    const extra = rows.filter(
      (r) =>
        !activeSeqs.has(r.deliverySeq) &&
        !hidden.has(r.deliverySeq) &&
        (withWork.has(r.deliverySeq) ||
          (r.riderId === user.riderId && r.status === 'cancelled' && !!r.cancelledAt && now.getTime() - Date.parse(r.cancelledAt) < CANCELLED_VISIBLE_MS)),
    );
    const order = (r: DeliveryRow) => (r.status === 'picked_up' ? 0 : r.status === 'assigned' ? 1 : 2);
    const cardRows = [...active, ...extra].sort(
      (a, b) => order(a) - order(b) || Date.parse(a.assignedAt ?? a.createdAt) - Date.parse(b.assignedAt ?? b.createdAt) || a.deliverySeq - b.deliverySeq,
    );
    const cardSeqs = new Set(cardRows.map((r) => r.deliverySeq));
    const doneRows = mine
      .filter((r) => r.status === 'delivered' && sameDay(r.deliveredAt, now) && !cardSeqs.has(r.deliverySeq))
      .sort((a, b) => Date.parse(b.deliveredAt ?? b.modDate) - Date.parse(a.deliveredAt ?? a.modDate));
    return { cards: cardRows, done: doneRows };
  }, [rowsView, queued, viewList, hidden, user.riderId]);

  const activeCount = cards.filter((r) => isActive(r.status) && r.riderId === user.riderId).length;
  const centerId = user.centerIds[0] ?? null;

  return (
    <div className="rider-shell">
      <header className="rider-top">
        <div className="rider-top-row">
          <div className="rider-who">
            <h1 className="rider-app">Dispatch Desk</h1>
            <p className="rider-name" data-testid="rider-name">
              {user.name}
            </p>
          </div>
          <div
            className={`rider-conn rider-conn-${link}`}
            data-testid="rider-connection"
            data-state={link}
            role="status"
            title={LINK_TITLE[link]}
          >
            <span className="rider-conn-dot" aria-hidden />
            <span>{LINK_LABEL[link]}</span>
            <span className="rider-queued" data-testid="queued-count" data-count={queued.length} hidden={queued.length === 0}>
              {queued.length === 1 ? '1 action queued' : `${queued.length} actions queued`}
            </span>
          </div>
        </div>
        <div className="rider-tabs" role="tablist" aria-label="Rider screen">
          <button
            type="button"
            role="tab"
            id="rider-tab-deliveries"
            aria-selected={tab === 'deliveries'}
            aria-controls="rider-panel-deliveries"
            tabIndex={tab === 'deliveries' ? 0 : -1}
            className="rider-tab"
            data-testid="deliveries-tab"
            onClick={() => chooseTab('deliveries')}
            onKeyDown={onTabKey}
          >
            Deliveries <span className="rider-tab-count">{activeCount}</span>
          </button>
          <button
            type="button"
            role="tab"
            id="rider-tab-chat"
            aria-selected={tab === 'chat'}
            aria-controls="rider-panel-chat"
            tabIndex={tab === 'chat' ? 0 : -1}
            className="rider-tab"
            data-testid="chat-tab"
            onClick={() => chooseTab('chat')}
            onKeyDown={onTabKey}
          >
            Center chat
          </button>
        </div>
      </header>

      {link !== 'live' && link !== 'connecting' && (
        <p className="rider-banner" role="status" data-testid="offline-banner">
          {link === 'offline' ? 'You are offline.' : 'Connection lost, reconnecting…'} Taps are kept on this phone and sent in order when the
          connection is back.
        </p>
      )}
      {loadError && (
        <p className="rider-banner rider-banner-error" role="alert" data-testid="rider-error">
          {loadError}
        </p>
      )}

      <main
        id="rider-panel-deliveries"
        role="tabpanel"
        aria-labelledby="rider-tab-deliveries"
        className="rider-main"
        hidden={tab !== 'deliveries'}
      >
        <LocationShare socket={socket} live={link === 'live'} />

        <section aria-labelledby="rider-active-title" className="rider-section">
          <h2 id="rider-active-title" className="rider-h2">
            My deliveries <span className="rider-h2-count" data-testid="active-count">{activeCount}</span>
          </h2>
          {cards.length === 0 ? (
            <p className="rider-empty" data-testid="rider-empty">
              {link === 'live' ? 'Nothing assigned to you right now. New deliveries appear here by themselves.' : 'Nothing on this phone yet.'}
            </p>
          ) : (
            <div className="rider-cards">
              {cards.map((row) => {
                const { action, inFlight } = cardActionOf(row.deliverySeq, viewList, queued, link);
                return (
                  <DeliveryCard
                    key={row.deliverySeq}
                    row={row}
                    projected={row.riderId === user.riderId ? projectedStatus(row, queued) : row.status}
                    action={row.riderId === user.riderId || !action ? action : { ...action, text: `${action.text} (now with another rider)` }}
                    inFlight={inFlight}
                    onAct={act}
                    onDismiss={onDismiss}
                  />
                );
              })}
            </div>
          )}
        </section>

        <section aria-labelledby="rider-done-title" className="rider-section rider-done">
          <h2 id="rider-done-title" className="rider-h2">
            Done today <span className="rider-h2-count" data-testid="done-count">{done.length}</span>
          </h2>
          {done.length === 0 ? (
            <p className="rider-empty">No deliveries finished yet today.</p>
          ) : (
            <ol className="rider-done-list">
              {done.map((r) => {
                const { action } = cardActionOf(r.deliverySeq, viewList, queued, link);
                return (
                  <li key={r.deliverySeq} className="rider-done-item" data-testid={`rider-done-${r.deliverySeq}`} data-status={r.status}>
                    <span className="rider-done-time">{time(r.deliveredAt)}</span>
                    <span className="rider-done-what">
                      <strong>{r.shopName}</strong> → {r.address}
                    </span>
                    {action && <ActionState action={action} />}
                  </li>
                );
              })}
            </ol>
          )}
        </section>

        <footer className="rider-foot">
          <button
            type="button"
            className="rider-btn-quiet"
            data-testid="logout"
            onClick={() => {
              const n = queued.length;
              if (n > 0 && !window.confirm(`${n === 1 ? '1 action has' : `${n} actions have`} not reached the server yet and will be lost. Sign out anyway?`)) return;
              clearRiderStorage(user.id);
              void logout();
            }}
          >
            Sign out
          </button>
        </footer>
      </main>

      <section
        id="rider-panel-chat"
        role="tabpanel"
        aria-labelledby="rider-tab-chat"
        className="rider-chat"
        hidden={tab !== 'chat'}
      >
        {chatOpened &&
          (centerId !== null ? <ChatPanel centerId={centerId} /> : <p className="rider-empty">You do not belong to a center with a chat.</p>)}
      </section>
    </div>
  );
}
