import { describe, expect, it } from 'vitest';
import { AppError, nulPath, nulRefusal, toErrorBody } from '../../server/errors';

describe('what a client sees of an error', () => {
  it('passes domain errors through', () => {
    expect(toErrorBody(new AppError('conflict', 'Version 3 is stale'))).toEqual({ code: 'conflict', message: 'Version 3 is stale' });
  });

  it('calls a database that cannot be reached, or cannot start a transaction in time, unavailable (try again)', () => {
    const prisma = (code: string, message: string) => Object.assign(new Error(message), { code });
    for (const err of [
      prisma('P2028', 'Transaction API error: Unable to start a transaction in the given time.'),
      prisma('P2024', 'Timed out fetching a new connection from the connection pool.'),
      new Error('wrapped', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }) }),
      // A process out of file descriptors cannot open a database connection (Prisma keeps only the text).
      new Error('\nInvalid `prisma.center.findUnique()` invocation:\n\n\nconnect EMFILE 127.0.0.1:5432 - Local (undefined:undefined)'),
    ]) {
      expect(toErrorBody(err).code).toBe('unavailable');
    }
  });

  it('reports anything else as internal, without its message', () => {
    expect(toErrorBody(new TypeError('x is undefined'))).toEqual({ code: 'internal', message: 'Something went wrong on the server' });
    expect(toErrorBody(Object.assign(new Error('Unique constraint failed'), { code: 'P2002' })).code).toBe('internal');
  });
});

describe('text with a NUL character', () => {
  it('is found wherever it sits in the input, and named by its path', () => {
    expect(nulPath({ body: 'ok', items: [{ note: 'fine' }, { note: 'a\u0000b' }] })).toBe('items.1.note');
    expect(nulPath('\u0000')).toBe('(value)');
    expect(nulPath({ body: 'ok', n: 3, list: ['a', 'b'], none: null })).toBeUndefined();
  });

  it('is refused as bad input with the path in the details', () => {
    const err = nulRefusal({ reason: 'x\u0000' }, 'delivery:cancel payload');
    expect(err && toErrorBody(err)).toEqual({ code: 'bad_request', message: 'Invalid delivery:cancel payload', details: [{ path: 'reason', message: 'must not contain a NUL character' }] });
    expect(nulRefusal({ reason: 'fine' }, 'body')).toBeUndefined();
  });
});
