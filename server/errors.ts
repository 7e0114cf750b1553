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

/**
 * Map any thrown value to what a client may see. AppErrors pass through; anything else is
 * reported as a generic internal error (the caller logs the original).
 */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof AppError) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details };
  }
  return { code: 'internal', message: 'Something went wrong on the server' };
}
