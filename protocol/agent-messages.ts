/**
 * The agent socket (`GET /api/v1/agent`, WebSocket, `Authorization: Bearer <machine token>`):
 * JSON messages with a `type`, declared once here and validated on both ends.
 *
 * machine → cloud: `hello` first, then `heartbeat` about every `heartbeatSeconds`.
 * cloud → machine: `welcome` after a valid hello; `error` just before the cloud closes the
 * socket for a reason the agent must act on (`MachineCloned`, `SessionConflict`, …).
 *
 * Runs (every run message carries `runId` and `attempt`, the fencing token: a report whose
 * attempt is not the run's current one is refused):
 *   cloud → machine `assign`   a run for this machine; answer within a few seconds
 *   machine → cloud `accepted` (or `rejected { code }`)
 *   cloud → machine `ack { of: 'accepted' }`  the acceptance is recorded: start now. The agent
 *                   never starts a run before this ack, so a run requeued after its accept
 *                   deadline cannot also be started by the late machine.
 *   machine → cloud `started`, `log { lines }` (batched), `finished { status, outputs, error }`
 *   cloud → machine `ack { of: 'finished' }`  the result is stored; the agent forgets the run
 *                   (until then it re-sends `finished` after each reconnect)
 *   cloud → machine `cancel`   stop the run's whole process tree (cancelled, timed out, stale)
 */
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';

export const AGENT_SOCKET_PATH = '/api/v1/agent';
/** WebSocket close codes the cloud uses (4000–4999 are for applications). */
export const AGENT_CLOSE = {
  invalidMessage: 4400,
  unauthorized: 4401,
  machineCloned: 4409,
  sessionConflict: 4410,
  replaced: 4411,
  serverShutdown: 4503,
} as const;

const SessionState = Type.Object(
  {
    /** The signed-in OS user, if any (attended runs need one). */
    user: Type.Union([Type.String({ maxLength: 256 }), Type.Null()]),
    locked: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const HelloMessage = Type.Object(
  {
    type: Type.Literal('hello'),
    version: Type.String({ maxLength: 64 }),
    os: Type.String({ maxLength: 128 }),
    fingerprint: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    session: SessionState,
    acceptsUnattended: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const HeartbeatMessage = Type.Object(
  {
    type: Type.Literal('heartbeat'),
    runningRunIds: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 }),
    session: Type.Optional(SessionState),
  },
  { additionalProperties: false },
);

/** A union of string literals whose static type is the union of those strings. */
function literals<const T extends readonly [string, ...string[]]>(values: T) {
  return Type.Unsafe<T[number]>(Type.Union(values.map((value) => Type.Literal(value))));
}

const RunRef = {
  runId: Type.String({ format: 'uuid', maxLength: 36 }),
  attempt: Type.Integer({ minimum: 1 }),
};

export const AcceptedMessage = Type.Object({ type: Type.Literal('accepted'), ...RunRef }, { additionalProperties: false });

/** Codes an agent refuses an assignment with (the run goes back to the queue). */
export const REJECT_CODES = ['Busy', 'CredentialsUnavailable', 'SessionUnavailable', 'UnsupportedRuntime', 'Stopping'] as const;
export type RejectCode = (typeof REJECT_CODES)[number];

export const RejectedMessage = Type.Object(
  {
    type: Type.Literal('rejected'),
    ...RunRef,
    code: literals(REJECT_CODES),
    message: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

export const StartedMessage = Type.Object({ type: Type.Literal('started'), ...RunRef }, { additionalProperties: false });

export const LogLine = Type.Object(
  {
    at: Type.String({ maxLength: 40 }),
    stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr'), Type.Literal('system')]),
    line: Type.String({ maxLength: 8192 }),
  },
  { additionalProperties: false },
);
export type LogLine = Static<typeof LogLine>;
/** The most lines one `log` message carries (the agent batches and bounds its buffer). */
export const MAX_LOG_LINES_PER_MESSAGE = 200;

export const LogMessage = Type.Object(
  { type: Type.Literal('log'), ...RunRef, lines: Type.Array(LogLine, { minItems: 1, maxItems: MAX_LOG_LINES_PER_MESSAGE }) },
  { additionalProperties: false },
);

export const FINISHED_STATUSES = ['Succeeded', 'Failed', 'Cancelled', 'TimedOut'] as const;
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

export const RunErrorBody = Type.Object(
  { code: Type.String({ maxLength: 100 }), message: Type.String({ maxLength: 4000 }) },
  { additionalProperties: false },
);

export const FinishedMessage = Type.Object(
  {
    type: Type.Literal('finished'),
    ...RunRef,
    status: literals(FINISHED_STATUSES),
    outputs: Type.Unknown(),
    error: Type.Union([RunErrorBody, Type.Null()]),
  },
  { additionalProperties: false },
);

export const MachineMessage = Type.Union([
  HelloMessage,
  HeartbeatMessage,
  AcceptedMessage,
  RejectedMessage,
  StartedMessage,
  LogMessage,
  FinishedMessage,
]);
export type MachineMessage = Static<typeof MachineMessage>;
export type HelloMessage = Static<typeof HelloMessage>;
export type HeartbeatMessage = Static<typeof HeartbeatMessage>;
export type AcceptedMessage = Static<typeof AcceptedMessage>;
export type RejectedMessage = Static<typeof RejectedMessage>;
export type StartedMessage = Static<typeof StartedMessage>;
export type LogMessage = Static<typeof LogMessage>;
export type FinishedMessage = Static<typeof FinishedMessage>;
/** The machine's reports about one run (everything but hello and heartbeat). */
export type RunReport = AcceptedMessage | RejectedMessage | StartedMessage | LogMessage | FinishedMessage;

export const WelcomeMessage = Type.Object(
  {
    type: Type.Literal('welcome'),
    machineId: Type.String(),
    heartbeatSeconds: Type.Integer({ minimum: 1 }),
    serverTime: Type.String(),
  },
  { additionalProperties: false },
);

export const AgentErrorMessage = Type.Object(
  {
    type: Type.Literal('error'),
    code: Type.String(),
    message: Type.String(),
  },
  { additionalProperties: false },
);

export const SealedCredentials = Type.Object(
  {
    username: Type.String({ maxLength: 256 }),
    /** libsodium sealed box (crypto_box_seal) of the UTF-8 password, base64. */
    sealedPassword: Type.String({ maxLength: 4096 }),
    /** Whose X25519 key opens it: the group's (group members hold it) or the machine's own. */
    targetType: Type.Union([Type.Literal('MachineGroup'), Type.Literal('Machine')]),
    targetId: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type SealedCredentials = Static<typeof SealedCredentials>;

export const AssignMessage = Type.Object(
  {
    type: Type.Literal('assign'),
    ...RunRef,
    flow: Type.Object(
      {
        runtime: Type.Union([Type.Literal('node'), Type.Literal('shell')]),
        script: Type.String({ maxLength: 100_000 }),
      },
      { additionalProperties: false },
    ),
    inputs: Type.Unknown(),
    runMode: Type.Union([Type.Literal('Attended'), Type.Literal('Unattended')]),
    sealedCredentials: SealedCredentials,
    /** The run's time limit; the agent stops the flow when it is reached (TimedOut). */
    timeoutSeconds: Type.Integer({ minimum: 1 }),
    /** How long the agent waits after SIGTERM before SIGKILL when stopping the flow. */
    graceSeconds: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export const AckMessage = Type.Object(
  { type: Type.Literal('ack'), ...RunRef, of: Type.Union([Type.Literal('accepted'), Type.Literal('finished')]) },
  { additionalProperties: false },
);

export const CANCEL_REASONS = ['Cancelled', 'TimedOut', 'StaleAttempt', 'MachineLost'] as const;
export const CancelMessage = Type.Object(
  {
    type: Type.Literal('cancel'),
    ...RunRef,
    reason: literals(CANCEL_REASONS),
  },
  { additionalProperties: false },
);

export const CloudMessage = Type.Union([WelcomeMessage, AgentErrorMessage, AssignMessage, AckMessage, CancelMessage]);
export type CloudMessage = Static<typeof CloudMessage>;
export type WelcomeMessage = Static<typeof WelcomeMessage>;
export type AssignMessage = Static<typeof AssignMessage>;
export type AckMessage = Static<typeof AckMessage>;
export type CancelMessage = Static<typeof CancelMessage>;

const machineMessageValidator = Compile(MachineMessage);
const cloudMessageValidator = Compile(CloudMessage);

/** Parses one frame from a machine; null when it is not JSON or not a valid message. */
export function parseMachineMessage(data: string): MachineMessage | null {
  return parseWith(data, (v) => machineMessageValidator.Check(v));
}

/** Parses one frame from the cloud; null when it is not JSON or not a valid message. */
export function parseCloudMessage(data: string): CloudMessage | null {
  return parseWith(data, (v) => cloudMessageValidator.Check(v));
}

function parseWith<T>(data: string, check: (value: unknown) => boolean): T | null {
  if (data.length > 1_000_000) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  return check(value) ? (value as T) : null;
}
