/**
 * The stable error codes of the cloud API (CONTRACT.md, "Errors"), with their HTTP status.
 * Every 4xx/5xx answer is `application/problem+json` `{ type, title, status, detail, code }`.
 * Clients (runtime core, CLI, renderer) switch on `code`, never on the text.
 */
export const ERROR_STATUS = {
  ValidationFailed: 400,
  Unauthorized: 401,
  IncorrectGroupPassword: 403,
  Forbidden: 403,
  NotFound: 404,
  AlreadySetUp: 409,
  NameTaken: 409,
  EmailTaken: 409,
  GroupNotEmpty: 409,
  GroupFull: 409,
  AlreadyInGroup: 409,
  NotInGroup: 409,
  GroupHasPassword: 409,
  GroupHasNoPassword: 409,
  SessionConflict: 409,
  MachineCloned: 409,
  QueueFull: 409,
  RunFinished: 409,
  RunNotQueued: 409,
  StaleAttempt: 409,
  ConnectionBroken: 409,
  ChallengeExpired: 409,
  LastAdmin: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  RateLimited: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_TITLES: Record<ErrorCode, string> = {
  ValidationFailed: 'The request is not valid',
  Unauthorized: 'Sign-in required',
  IncorrectGroupPassword: 'Incorrect group password',
  Forbidden: 'Not allowed',
  NotFound: 'Not found',
  AlreadySetUp: 'This server is already set up',
  NameTaken: 'That name is already taken',
  EmailTaken: 'A user with that email already exists',
  GroupNotEmpty: 'The machine group still has machines',
  GroupFull: 'The machine group is full',
  AlreadyInGroup: 'The machine is already in this group',
  NotInGroup: 'The machine is not in this group',
  GroupHasPassword: 'The machine group already has a password',
  GroupHasNoPassword: 'The machine group has no password yet',
  SessionConflict: 'The machine is already connected from another session',
  MachineCloned: 'This machine looks like a copy of another machine',
  QueueFull: 'The queue of this machine group is full',
  RunFinished: 'The run has already finished',
  RunNotQueued: 'The run is no longer in the queue',
  StaleAttempt: 'The report belongs to an earlier attempt of the run',
  ConnectionBroken: 'The connection is broken',
  ChallengeExpired: 'The join challenge has expired or was already used',
  LastAdmin: 'An environment must keep at least one Environment Admin',
  PayloadTooLarge: 'The request body is too large',
  UnsupportedMediaType: 'Unsupported content type',
  RateLimited: 'Too many attempts',
  InternalError: 'Something went wrong on the server',
  ServiceUnavailable: 'The server is not ready',
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}

/** The body of every error answer. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  /** Seconds, for `RateLimited`. */
  retryAfter?: number;
  /** Field-level detail for `ValidationFailed`. */
  errors?: { path: string; message: string }[];
}
