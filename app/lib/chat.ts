import { useCallback, useEffect, useRef, useState } from 'react';
import type { Socket } from 'socket.io-client';
import {
  CHAT_MAX_LENGTH,
  CHAT_PAGE_SIZE,
  NAMESPACES,
  type ChatClientEvents,
  type ChatMessage,
  type ChatServerEvents,
} from '@/protocol';
import { connectNamespace, sendCommand } from './socket';

export type ChatSocket = Socket<ChatServerEvents, ChatClientEvents>;

/** The browser's /chat socket; the session cookie authenticates it. */
export function connectChat(): ChatSocket {
  return connectNamespace(NAMESPACES.chat);
}

/** Send a chat command and resolve with its data; rejects with the server's message (and `code`). */
export function chatRequest<E extends Extract<keyof ChatClientEvents, string>>(socket: ChatSocket, event: E, payload: unknown, timeoutMs = 10_000) {
  return sendCommand(socket, event, payload, timeoutMs);
}

/**
 * Merge messages by id, oldest first. Returns `held` itself when nothing new came, so a caller
 * can skip a re-render.
 */
export function mergeMessages(held: readonly ChatMessage[], incoming: readonly ChatMessage[]): readonly ChatMessage[] {
  if (incoming.length === 0) return held;
  const byId = new Map<number, ChatMessage>();
  for (const m of held) byId.set(m.id, m);
  let added = false;
  for (const m of incoming) {
    if (!byId.has(m.id)) {
      byId.set(m.id, m);
      added = true;
    }
  }
  if (!added) return held;
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** Length as the server counts it (it trims first). */
export function draftLength(draft: string): number {
  return draft.trim().length;
}

/** Why a draft cannot be sent, in the rider's words, or null when it can. */
export function draftProblem(draft: string): string | null {
  const n = draftLength(draft);
  if (n === 0) return 'Type a message first.';
  if (n > CHAT_MAX_LENGTH) return `Too long: ${n} characters, the limit is ${CHAT_MAX_LENGTH}. Remove ${n - CHAT_MAX_LENGTH}.`;
  return null;
}

export type ChatLink = 'connecting' | 'live' | 'reconnecting';

/** Pages fetched at most to close a gap after a long disconnection (then older ones load on scroll). */
const MAX_GAP_PAGES = 10;

/**
 * A center's chat: joins on every (re)connect and merges what was missed, appends live messages
 * (deduplicated by id), pages back on demand, sends with the server's answer.
 */
export function useChat(centerId: number) {
  const [messages, setMessages] = useState<readonly ChatMessage[]>([]);
  const [link, setLink] = useState<ChatLink>('connecting');
  const [me, setMe] = useState<number | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [joined, setJoined] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // Another center: start from nothing (state adjusted while rendering, not in an effect).
  const [shownCenter, setShownCenter] = useState(centerId);
  if (shownCenter !== centerId) {
    setShownCenter(centerId);
    setMessages([]);
    setJoined(false);
    setHasMore(false);
    setProblem(null);
  }
  const socketRef = useRef<ChatSocket | null>(null);
  /** What is held, for callbacks (kept in step by every write of `messages`). */
  const messagesRef = useRef<readonly ChatMessage[]>([]);
  const olderBusy = useRef(false);

  const merge = useCallback((incoming: readonly ChatMessage[]) => {
    setMessages((held) => {
      const next = mergeMessages(held, incoming);
      messagesRef.current = next;
      return next;
    });
  }, []);

  useEffect(() => {
    const s = connectChat();
    socketRef.current = s;
    let first = true;
    messagesRef.current = [];

    async function join() {
      const res = await chatRequest(s, 'chat:join', { centerId });
      const held = messagesRef.current;
      const heldNewest = held.at(-1)?.id;
      let page = res.messages;
      let gapClosed = true;
      const oldestReturned = page[0]?.id;
      if (!first && heldNewest !== undefined && oldestReturned !== undefined && page.length >= CHAT_PAGE_SIZE && oldestReturned > heldNewest) {
        // More than a page came while we were away: page back until we meet what we hold.
        gapClosed = false;
        let before = oldestReturned;
        for (let i = 0; i < MAX_GAP_PAGES; i += 1) {
          const older = await chatRequest(s, 'chat:history', { centerId, beforeId: before });
          page = [...older, ...page];
          const top = older[0]?.id;
          if (older.length < CHAT_PAGE_SIZE || top === undefined || top <= heldNewest) {
            gapClosed = true;
            break;
          }
          before = top;
        }
      }
      if (gapClosed) merge(page);
      else {
        // Still a hole: drop the old part rather than show a conversation with a gap in it.
        messagesRef.current = page;
        setMessages(page);
        setHasMore(true);
      }
      if (first) setHasMore(res.messages.length >= CHAT_PAGE_SIZE);
      first = false;
      setJoined(true);
      setProblem(null);
    }

    s.on('hello', (info) => setMe(info.user.id));
    s.on('chat:message', (msg) => {
      if (msg.centerId === centerId) merge([msg]);
    });
    s.on('connect', () => {
      setLink('live');
      join().catch((err: unknown) => setProblem(`Could not open the chat: ${(err as Error).message}`));
    });
    s.on('disconnect', (reason) => {
      setLink('reconnecting');
      if (reason === 'io server disconnect') s.connect();
    });
    s.on('connect_error', () => setLink('reconnecting'));
    s.connect();
    return () => {
      s.off();
      s.disconnect();
      socketRef.current = null;
    };
  }, [centerId, merge]);

  /** The page before the oldest message held; resolves when it is merged. */
  const loadOlder = useCallback(async () => {
    const s = socketRef.current;
    const oldest = messagesRef.current[0];
    if (!s?.connected || !oldest || olderBusy.current) return;
    olderBusy.current = true;
    setLoadingOlder(true);
    try {
      const page = await chatRequest(s, 'chat:history', { centerId, beforeId: oldest.id });
      merge(page);
      setHasMore(page.length >= CHAT_PAGE_SIZE);
    } catch (err) {
      setProblem(`Could not load older messages: ${(err as Error).message}`);
    } finally {
      olderBusy.current = false;
      setLoadingOlder(false);
    }
  }, [centerId, merge]);

  /**
   * Send a message; rejects with a readable reason (the server's when it refused). A send whose
   * answer is lost is retried with the same clientId, so the server stores it once.
   */
  const send = useCallback(
    async (body: string) => {
      const local = draftProblem(body);
      if (local) throw new Error(local);
      const clientId = crypto.randomUUID();
      for (let attempt = 0; ; attempt++) {
        const s = socketRef.current;
        if (!s?.connected) throw new Error('You are offline: the message was not sent. It stays here; send it again when back online.');
        try {
          const msg = await chatRequest(s, 'chat:send', { centerId, body, clientId }, 5000);
          merge([msg]);
          return msg;
        } catch (err) {
          const timedOut = !(err as { code?: string }).code;
          if (!timedOut || attempt >= 2) throw err;
        }
      }
    },
    [centerId, merge],
  );

  return { messages, link, me, hasMore, loadingOlder, joined, problem, loadOlder, send };
}
