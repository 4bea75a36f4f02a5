/** CONTRACT.md exit codes, and the error codes that lead to each. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notAuthorised: 3,
  incorrectGroupPassword: 4,
  conflict: 5,
  rateLimited: 6,
} as const;

const CONFLICT_CODES = new Set([
  'GroupFull',
  'GroupNotEmpty',
  'AlreadyInGroup',
  'SessionConflict',
  'MachineCloned',
  'QueueFull',
  'NameTaken',
  'EmailTaken',
  'AlreadySetUp',
  'LastAdmin',
  'NotInGroup',
  'ChallengeExpired',
  'ConnectionBroken',
  'RunFinished',
  'RunNotQueued',
]);
const AUTH_CODES = new Set(['Unauthorized', 'Forbidden', 'NotSignedIn', 'NotRegistered']);

export function exitCodeFor(code: string): number {
  if (code === 'IncorrectGroupPassword') return EXIT.incorrectGroupPassword;
  if (code === 'RateLimited') return EXIT.rateLimited;
  if (code === 'ValidationFailed' || code === 'Usage' || code === 'SecretOnCommandLine') return EXIT.usage;
  if (AUTH_CODES.has(code)) return EXIT.notAuthorised;
  if (CONFLICT_CODES.has(code)) return EXIT.conflict;
  return EXIT.error;
}
