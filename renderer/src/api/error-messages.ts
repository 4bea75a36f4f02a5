/** Error codes → sentences a person can act on. The renderer never shows a raw code alone. */
import { isDesktopErrorEnvelope, type DesktopErrorCode, type DesktopErrorEnvelope } from '../../../protocol/desktop-api-names.ts';

const MESSAGES: Partial<Record<DesktopErrorCode, string | ((e: DesktopErrorEnvelope) => string)>> = {
  IncorrectGroupPassword: 'The group password is incorrect.',
  GroupFull: 'The group is full: a machine group holds at most 50 machines.',
  GroupNotEmpty: 'The group still has machines. Remove them before deleting the group.',
  NameTaken: 'That name is already taken. Choose another one.',
  EmailTaken: 'A user with that email address already exists.',
  Forbidden: 'You are not allowed to do this. Ask an owner of the group or an environment admin.',
  NotFound: 'It no longer exists, or you no longer have access to it.',
  RateLimited: (e) =>
    e.retryAfter && e.retryAfter > 0
      ? `Too many attempts. Try again in ${formatWait(e.retryAfter)}.`
      : 'Too many attempts. Wait a moment and try again.',
  Unreachable: 'The server cannot be reached. Check the server address and your network connection.',
  Unauthorized: 'Your sign-in is no longer valid. Sign in again.',
  NotSignedIn: 'Sign in first.',
  NotRegistered: 'Register this machine first (Machine settings).',
  AlreadySetUp: 'This server is already set up. Sign in instead.',
  AlreadyInGroup: 'This machine is already in that group.',
  NotInGroup: 'This machine is not in that group.',
  GroupHasPassword: 'Someone has just set a password for this group. Enter the group password.',
  GroupHasNoPassword: 'This group has no password yet. Create one to add the first machine.',
  ChallengeExpired: 'Joining took too long. Try again.',
  MachineCloned: 'This machine looks like a copy of another machine. Register it as a new machine.',
  SessionConflict: 'This machine is already connected from another session.',
  ServiceUnavailable: (e) => e.message || 'The service is not ready. Try again in a moment.',
  HostUnavailable: 'Lost the connection to Machine Runtime. It reconnects by itself; try again in a moment.',
  ValidationFailed: (e) => `Some values are not valid. ${e.message}`,
  QueueFull: 'The queue of this group is full.',
  RunFinished: 'The run has already ended.',
  RunNotQueued: 'The run is no longer waiting in the queue: a machine has taken it, or it has ended. Only queued runs can be reordered.',
  UntrustedSender: 'This window is not allowed to talk to Machine Runtime.',
  InternalError: 'Something went wrong. Try again; if it keeps failing, export the logs from Troubleshoot.',
};

function formatWait(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} second${Math.ceil(seconds) === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

export function toEnvelope(error: unknown): DesktopErrorEnvelope {
  if (isDesktopErrorEnvelope(error)) return error;
  return { code: 'InternalError', message: error instanceof Error ? error.message : String(error) };
}

export function errorCode(error: unknown): DesktopErrorCode {
  return toEnvelope(error).code;
}

/** One sentence naming the problem. */
export function describeError(error: unknown): string {
  const envelope = toEnvelope(error);
  const message = MESSAGES[envelope.code];
  if (typeof message === 'function') return message(envelope);
  if (message) return message;
  return envelope.message || 'Something went wrong.';
}
