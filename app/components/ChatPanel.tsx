'use client';
import { useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { CHAT_MAX_LENGTH, type ChatMessage } from '@/protocol';
import { draftLength, draftProblem, useChat } from '../lib/chat';
import './chat.css';

const LINK_LABEL = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' } as const;
/** Within this many pixels of an edge counts as "at" it. */
const EDGE_PX = 48;

function clock(iso: string): string {
  const d = new Date(iso);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return sameDay ? t : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${t}`;
}

function readable(err: unknown): string {
  const e = err as Error & { code?: unknown };
  if (e.message === 'operation has timed out') return 'No answer from the server. Your message may not have been sent; try again.';
  return e.message || 'The message could not be sent.';
}

/** One message. Text is rendered as a React text node: markup in it shows literally. */
function Message({ m, own }: { m: ChatMessage; own: boolean }) {
  return (
    <li className={own ? 'chat-msg chat-own' : 'chat-msg'} data-testid="chat-message" data-id={m.id} data-own={own ? 'true' : 'false'}>
      <div className="chat-meta">
        <span className="chat-author">{own ? 'You' : m.authorName}</span>
        <time className="chat-time" dateTime={m.createdAt} title={new Date(m.createdAt).toLocaleString()}>
          {clock(m.createdAt)}
        </time>
      </div>
      <p className="chat-body">{m.body}</p>
    </li>
  );
}

/**
 * A center's chat room, for any screen: fills its parent (give the parent a height), so it works
 * as a tab on the rider's phone and as a side panel on the dispatcher's board.
 */
export function ChatPanel({ centerId }: { centerId: number }) {
  const chat = useChat(centerId);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [unseen, setUnseen] = useState(0);
  const logRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  /** The log as last laid out: to keep the reader's place when older messages are put on top. */
  const view = useRef({ firstId: 0, lastId: 0, height: 0, top: 0, atBottom: true });
  const stickToBottom = useRef(false);
  const ids = useId();

  useLayoutEffect(() => {
    const el = logRef.current;
    if (!el) return;
    const first = chat.messages[0]?.id ?? 0;
    const last = chat.messages.at(-1)?.id ?? 0;
    const prev = view.current;
    if (prev.firstId !== 0 && first < prev.firstId && (last === prev.lastId || !prev.atBottom)) {
      // Older page on top: the message the reader was looking at stays where it was.
      el.scrollTop = el.scrollHeight - prev.height + prev.top;
    } else if (last !== prev.lastId) {
      if (prev.lastId === 0 || prev.atBottom || stickToBottom.current) {
        el.scrollTop = el.scrollHeight;
        setUnseen(0);
      } else {
        setUnseen((n) => n + chat.messages.filter((m) => m.id > prev.lastId).length);
      }
    }
    stickToBottom.current = false;
    view.current = {
      firstId: first,
      lastId: last,
      height: el.scrollHeight,
      top: el.scrollTop,
      atBottom: el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX,
    };
  }, [chat.messages]);

  function onScroll() {
    const el = logRef.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX;
    view.current = { ...view.current, height: el.scrollHeight, top: el.scrollTop, atBottom };
    if (atBottom) setUnseen(0);
    if (el.scrollTop < EDGE_PX && chat.hasMore && !chat.loadingOlder) void chat.loadOlder();
  }

  function jumpToLatest() {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    setUnseen(0);
  }

  async function submit(e?: FormEvent) {
    e?.preventDefault();
    if (sending) return;
    const problem = draftProblem(draft);
    if (problem) {
      setError(problem);
      inputRef.current?.focus();
      return;
    }
    setSending(true);
    setError(null);
    stickToBottom.current = true;
    try {
      await chat.send(draft);
      setDraft('');
    } catch (err) {
      stickToBottom.current = false;
      setError(readable(err));
    } finally {
      setSending(false);
      inputRef.current?.focus();
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter sends, Shift+Enter is a new line; never while an IME (Korean input) is composing.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  }

  const length = draftLength(draft);
  const over = length > CHAT_MAX_LENGTH;
  const shownError = over ? draftProblem(draft) : (error ?? chat.problem);
  const counterId = `${ids}-counter`;
  const errorId = `${ids}-error`;
  return (
    <section className="chat-panel" data-testid="chat-panel" data-joined={chat.joined ? 'true' : 'false'} aria-label="Center chat">
      <header className="chat-head">
        <h2 className="chat-title">Center chat</h2>
        <span className={`chat-link chat-link-${chat.link}`} data-testid="chat-link" data-state={chat.link} role="status">
          {LINK_LABEL[chat.link]}
        </span>
      </header>
      <div className="chat-log-wrap">
        <div
          ref={logRef}
          className="chat-log"
          data-testid="chat-log"
          onScroll={onScroll}
          tabIndex={0}
          role="log"
          aria-label="Messages"
          aria-live="polite"
          aria-relevant="additions"
        >
          <div className="chat-older">
            {chat.hasMore ? (
              <button type="button" className="chat-older-btn" data-testid="chat-older" onClick={() => void chat.loadOlder()} disabled={chat.loadingOlder}>
                {chat.loadingOlder ? 'Loading older messages…' : 'Load older messages'}
              </button>
            ) : (
              chat.joined && <span className="chat-start">{chat.messages.length ? 'Start of the conversation' : 'No messages yet. Say hello!'}</span>
            )}
          </div>
          <ol className="chat-list">
            {chat.messages.map((m) => (
              <Message key={m.id} m={m} own={chat.me !== null && m.userId === chat.me} />
            ))}
          </ol>
        </div>
        {unseen > 0 && (
          <button type="button" className="chat-jump" data-testid="chat-jump" onClick={jumpToLatest}>
            {unseen === 1 ? '1 new message' : `${unseen} new messages`} ↓
          </button>
        )}
      </div>
      <form className="chat-form" onSubmit={(e) => void submit(e)} noValidate>
        <label className="chat-sr-only" htmlFor={`${ids}-input`}>
          Message
        </label>
        <textarea
          id={`${ids}-input`}
          ref={inputRef}
          className={over ? 'chat-input chat-input-over' : 'chat-input'}
          data-testid="chat-input"
          rows={2}
          value={draft}
          placeholder="Message the center…"
          aria-invalid={over}
          aria-describedby={`${counterId}${shownError ? ` ${errorId}` : ''}`}
          onChange={(e) => {
            setDraft(e.target.value);
            if (error) setError(null);
          }}
          onKeyDown={onKeyDown}
        />
        <div className="chat-form-foot">
          <span id={counterId} className={over ? 'chat-counter chat-counter-over' : 'chat-counter'} data-testid="chat-counter" data-over={over ? 'true' : 'false'}>
            {length}/{CHAT_MAX_LENGTH}
          </span>
          <button type="submit" className="chat-send" data-testid="chat-send" disabled={sending}>
            {sending ? 'Sending…' : 'Send'}
          </button>
        </div>
        {shownError && (
          <p id={errorId} className="chat-error" role="alert" data-testid="chat-error">
            {shownError}
          </p>
        )}
      </form>
    </section>
  );
}
