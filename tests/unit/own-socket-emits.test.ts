import { describe, expect, it } from 'vitest';
import { localWhenOwnSocket } from '../../server/realtime/own-socket-emits';

describe('emits to one socket stay with the process that holds it', () => {
  const own = new Map<string, unknown>([['sock-A', new Set()]]);

  it('marks an emit to one socket this worker holds as local', () => {
    const out = localWhenOwnSocket({ rooms: new Set(['sock-A']), except: new Set() }, own);
    expect(out.flags?.local).toBe(true);
    expect([...out.rooms]).toEqual(['sock-A']);
  });

  it('keeps the flags it was given', () => {
    const out = localWhenOwnSocket({ rooms: new Set(['sock-A']), except: new Set(), flags: { volatile: true } }, own);
    expect(out.flags).toEqual({ volatile: true, local: true });
  });

  it('sends on to the other workers what they may have to deliver', () => {
    const cases = [
      { rooms: new Set(['center:1']), except: new Set<string>() }, // a room: members on any worker
      { rooms: new Set(['sock-B']), except: new Set<string>() }, // a socket held elsewhere
      { rooms: new Set(['sock-A', 'center:1']), except: new Set<string>() }, // more than one room
      { rooms: new Set<string>(), except: new Set<string>() }, // everyone
      { rooms: new Set(['sock-A']), except: new Set(['x']) }, // with exceptions
    ];
    for (const opts of cases) expect(localWhenOwnSocket(opts, own)).toBe(opts);
  });
});
