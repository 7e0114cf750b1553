import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { CHAT_MAX_LENGTH, NAMESPACES, type ChatMessage } from '../../protocol';
import { BACKENDS } from '../support/backends';
import { ask, data, startTestApp, type TestApp } from '../support/app';

describe.each(BACKENDS)('center chat on $name', (backend) => {
  let t: TestApp;
  let centerId: number;
  let otherCenterId: number;
  let dispatcher: Socket;
  let rider: Socket;
  beforeAll(async () => {
    t = await startTestApp(backend, { deliveries: 3 });
    [centerId, otherCenterId] = (await t.db.prisma.center.findMany({ orderBy: { id: 'asc' }, take: 2 })).map((c) => c.id) as [number, number];
    dispatcher = await t.connect(NAMESPACES.chat, await t.token('dispatcher@demo.local'));
    rider = await t.connect(NAMESPACES.chat, await t.token('rider@demo.local'));
    data(await ask(dispatcher, 'chat:join', { centerId }));
    data(await ask(rider, 'chat:join', { centerId }));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('stores a message, broadcasts it to the room, and a retry with the same clientId stores nothing new', async () => {
    const seen: ChatMessage[] = [];
    rider.on('chat:message', (m: ChatMessage) => seen.push(m));
    const clientId = `c-${Date.now()}-retry`;
    const first = data(await ask<ChatMessage>(dispatcher, 'chat:send', { centerId, body: 'Rain on Teheran-ro', clientId }));
    const again = data(await ask<ChatMessage>(dispatcher, 'chat:send', { centerId, body: 'Rain on Teheran-ro', clientId }));
    expect(again).toEqual(first);
    await new Promise((r) => setTimeout(r, 150));
    expect(seen.filter((m) => m.id === first.id)).toHaveLength(1);
    expect(await t.db.prisma.chatMessage.count({ where: { clientId } })).toBe(1);
  });

  it('keeps text as text and refuses an over-long message with a clear error', async () => {
    const markup = '<img src=x onerror=alert(1)>';
    expect(data(await ask<ChatMessage>(rider, 'chat:send', { centerId, body: markup })).body).toBe(markup);
    const long = await ask(rider, 'chat:send', { centerId, body: 'x'.repeat(CHAT_MAX_LENGTH + 1) });
    expect('error' in long && long.error).toMatchObject({ code: 'bad_request', details: [{ path: 'body', message: `Message is longer than ${CHAT_MAX_LENGTH} characters` }] });
  });

  it('serves the last 50 on join and older pages by id', async () => {
    const room = await t.db.prisma.chatRoom.findUniqueOrThrow({ where: { centerId } });
    await t.db.prisma.chatMessage.createMany({ data: Array.from({ length: 60 }, (_, i) => ({ roomId: room.id, authorName: 'seed', body: `m${i}` })) });
    const joined = data(await ask<{ messages: ChatMessage[] }>(rider, 'chat:join', { centerId }));
    expect(joined.messages).toHaveLength(50);
    expect(joined.messages.at(-1)?.body).toBe('m59');
    const older = data(await ask<ChatMessage[]>(rider, 'chat:history', { centerId, beforeId: joined.messages[0]!.id }));
    expect(older.length).toBeGreaterThan(0);
    expect(older.at(-1)!.id).toBeLessThan(joined.messages[0]!.id);
  });

  it('refuses another center’s chat', async () => {
    const res = await ask(rider, 'chat:join', { centerId: otherCenterId });
    expect('error' in res && res.error.code).toBe('not_found'); // never reveals which chats exist
  });
});
