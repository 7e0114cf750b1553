import type { ErrorBody, ErrorCode } from '../protocol';
import type { ZodError } from 'zod';

/** The one domain error. Its code decides the HTTP status and is what clients see. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }

  static fromZod(err: ZodError, what = 'payload'): AppError {
    return new AppError(
      'bad_request',
      `Invalid ${what}`,
      err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
}

export const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  invalid_transition: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

// P2024: no pool connection in time; P2028: a transaction could not start (or ran out of) its time.
// EMFILE/ENFILE: no file descriptor left for a new database connection (it passes as files close).
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EMFILE', 'ENFILE', 'P1001', 'P1002', 'P1017', 'P2024', 'P2028']);
const UNREACHABLE_TEXT = /connection terminated|timeout exceeded when trying to connect|can't reach database|server has closed the connection|connection (refused|reset|closed)|query read timeout|\b(EMFILE|ENFILE)\b/i;

/**
 * Whether an error means the database could not be reached (refused, cut, timed out), looking
 * through the causes that Prisma and its driver adapter wrap around the driver's error.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
    if (typeof message === 'string' && UNREACHABLE_TEXT.test(message)) return true;
    e = cause;
  }
  return false;
}

/**
 * Map any thrown value to what a client may see. AppErrors pass through; an unreachable database
 * is `unavailable` (try again shortly); anything else is reported as a generic internal error
 * (the caller logs the original).
 */
export function toErrorBody(err: unknown): ErrorBody {
  if (!(err instanceof AppError) && isDatabaseUnreachable(err)) {
    return { code: 'unavailable', message: 'The database cannot be reached just now. Try again shortly.' };
  }
  if (err instanceof AppError) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details };
  }
  return { code: 'internal', message: 'Something went wrong on the server' };
}

/**
 * Where in an input a string holds a NUL character (`body`, `items.2.note`), if anywhere. No text
 * column can store one (PostgreSQL refuses it), so such input is refused at the edge as bad input
 * instead of failing later as a server error.
 */
export function nulPath(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || '(value)' : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = nulPath(v, path ? `${path}.${k}` : k);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The refusal of input with a NUL character in any of its strings (see nulPath); none for clean input. */
export function nulRefusal(value: unknown, what: string): AppError | undefined {
  const at = nulPath(value);
  return at === undefined ? undefined : new AppError('bad_request', `Invalid ${what}`, [{ path: at === '(value)' ? '' : at, message: 'must not contain a NUL character' }]);
}
