import { describe, expect, it } from 'vitest';
import { CHAT_MAX_LENGTH, type ChatMessage } from '../../protocol';
import { draftLength, draftProblem, mergeMessages } from '../../app/lib/chat';

const msg = (id: number, body = `m${id}`): ChatMessage => ({
  id,
  centerId: 1,
  userId: 1,
  authorName: 'A',
  body,
  createdAt: new Date(1_700_000_000_000 + id * 1000).toISOString(),
});

describe('chat message merge', () => {
  it('dedupes by id and keeps messages oldest first', () => {
    const held = [msg(2), msg(3)];
    const merged = mergeMessages(held, [msg(5), msg(1), msg(3), msg(4)]);
    expect(merged.map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('returns the same array when nothing is new (no re-render)', () => {
    const held = [msg(1), msg(2)];
    expect(mergeMessages(held, [msg(2)])).toBe(held);
    expect(mergeMessages(held, [])).toBe(held);
  });
});

describe('chat draft rules', () => {
  it('counts as the server does (trimmed)', () => {
    expect(draftLength('  hi  ')).toBe(2);
  });
  it('refuses empty and over-long drafts with a clear reason', () => {
    expect(draftProblem('   ')).toMatch(/Type a message/);
    expect(draftProblem('x'.repeat(CHAT_MAX_LENGTH))).toBeNull();
    expect(draftProblem('x'.repeat(CHAT_MAX_LENGTH + 3))).toBe(`Too long: ${CHAT_MAX_LENGTH + 3} characters, the limit is ${CHAT_MAX_LENGTH}. Remove 3.`);
  });
});
