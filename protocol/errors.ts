/**
 * Error codes a client may see, and the shape of every error answer (ack or HTTP body).
 * Anything not in this list is reported as `internal` with a generic message.
 */
export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'invalid_transition',
  'rate_limited',
  'payload_too_large',
  'internal',
  'unavailable',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Field-level validation problems, or the current row on a conflict. */
  details?: unknown;
}

/** Every command answers through its ack with exactly one of these. */
export type Ack<T> = { data: T } | { error: ErrorBody };
export type AckCallback<T> = (res: Ack<T>) => void;

export function isAckError<T>(res: Ack<T>): res is { error: ErrorBody } {
  return 'error' in res;
}
