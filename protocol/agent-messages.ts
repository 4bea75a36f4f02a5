/**
 * The agent socket (`GET /api/v1/agent`, WebSocket, `Authorization: Bearer <machine token>`):
 * JSON messages with a `type`, declared once here and validated on both ends.
 *
 * machine → cloud: `hello` first, then `heartbeat` about every `heartbeatSeconds`.
 * cloud → machine: `welcome` after a valid hello; `error` just before the cloud closes the
 * socket for a reason the agent must act on (`MachineCloned`, `SessionConflict`, …).
 * Run messages (assign, accepted, started, log, finished, cancel) join with the runs issue;
 * each of them will carry `runId` and `attempt`.
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

export const MachineMessage = Type.Union([HelloMessage, HeartbeatMessage]);
export type MachineMessage = Static<typeof MachineMessage>;
export type HelloMessage = Static<typeof HelloMessage>;

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

export const CloudMessage = Type.Union([WelcomeMessage, AgentErrorMessage]);
export type CloudMessage = Static<typeof CloudMessage>;
export type WelcomeMessage = Static<typeof WelcomeMessage>;

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
