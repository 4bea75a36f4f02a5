/**
 * Errors the cloud answers with. Route code throws `ApiError(code, detail)`; the one error
 * handler in app.ts turns it (and every other failure) into `application/problem+json`.
 */
import { ERROR_STATUS, ERROR_TITLES, type ErrorCode, type Problem } from '../../../protocol/errors.ts';

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfter?: number;
  readonly errors?: Problem['errors'];

  constructor(code: ErrorCode, detail?: string, extra: { retryAfter?: number; errors?: Problem['errors'] } = {}) {
    super(detail ?? ERROR_TITLES[code]);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
    if (extra.errors !== undefined) this.errors = extra.errors;
  }
}

export function problemBody(error: ApiError): Problem {
  const body: Problem = {
    type: `https://machine-runtime.dev/problems/${error.code}`,
    title: ERROR_TITLES[error.code],
    status: error.status,
    detail: error.message,
    code: error.code,
  };
  if (error.retryAfter !== undefined) body.retryAfter = error.retryAfter;
  if (error.errors) body.errors = error.errors;
  return body;
}

export const notFound = (what: string) => new ApiError('NotFound', `${what} was not found.`);
export const forbidden = (detail: string) => new ApiError('Forbidden', detail);
