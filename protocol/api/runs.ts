/**
 * Connections, desktop flows and runs (CONTRACT.md, "Runs (desktop flows)").
 *
 * - A connection holds the username and password that runs use on the machines of its target
 *   (a machine group or a single machine). The password is sealed to the target's X25519 key on
 *   arrival (libsodium sealed box) and never returned.
 * - A desktop flow is a script (`node` or `shell`) with JSON inputs and outputs.
 * - A run moves Queued → Assigned → Running → Succeeded | Failed | Cancelled | TimedOut.
 *   While queued it says why it waits (`waitingReason`).
 */
import { Type, type Static } from 'typebox';
import { Id, NullableTimestamp, ObjectName, OwnerSummary, Timestamp } from './common.ts';

/** A union of string literals whose static type is the union of those strings. */
function literals<const T extends readonly [string, ...string[]]>(values: T) {
  return Type.Unsafe<T[number]>(Type.Union(values.map((value) => Type.Literal(value))));
}

// ── Connections ──────────────────────────────────────────────────────────────────────────

export const CONNECTION_TARGET_TYPES = ['MachineGroup', 'Machine'] as const;
export type ConnectionTargetType = (typeof CONNECTION_TARGET_TYPES)[number];

export const ConnectionTarget = Type.Object(
  { type: literals(CONNECTION_TARGET_TYPES), id: Id },
  { additionalProperties: false },
);

export const CreateConnectionBody = Type.Object(
  {
    name: ObjectName,
    target: ConnectionTarget,
    username: Type.String({ minLength: 1, maxLength: 256 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type CreateConnectionBody = Static<typeof CreateConnectionBody>;

export const CONNECTION_STATUSES = ['Connected', 'Broken'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

export const Connection = Type.Object({
  id: Id,
  environmentId: Id,
  name: Type.String(),
  target: Type.Object({ type: literals(CONNECTION_TARGET_TYPES), id: Id }),
  username: Type.String(),
  status: literals(CONNECTION_STATUSES),
  brokenReason: Type.Optional(Type.String()),
  createdAt: Timestamp,
});
export type Connection = Static<typeof Connection>;

export const CreatedConnection = Type.Object({
  id: Id,
  status: literals(CONNECTION_STATUSES),
});

export const ListConnectionsQuery = Type.Object({ environmentId: Type.Optional(Id) }, { additionalProperties: false });

// ── Desktop flows ────────────────────────────────────────────────────────────────────────

export const FLOW_RUNTIMES = ['node', 'shell'] as const;
export type FlowRuntime = (typeof FLOW_RUNTIMES)[number];
export const FlowRuntimeSchema = literals(FLOW_RUNTIMES);
/** Scripts are small programs, not payloads. */
export const FlowScript = Type.String({ minLength: 1, maxLength: 100_000 });

export const CreateDesktopFlowBody = Type.Object(
  { environmentId: Type.Optional(Id), name: ObjectName, runtime: FlowRuntimeSchema, script: FlowScript },
  { additionalProperties: false },
);
export type CreateDesktopFlowBody = Static<typeof CreateDesktopFlowBody>;

export const DesktopFlow = Type.Object({
  id: Id,
  environmentId: Id,
  name: Type.String(),
  runtime: FlowRuntimeSchema,
  script: Type.String(),
  owner: OwnerSummary,
  createdAt: Timestamp,
});
export type DesktopFlow = Static<typeof DesktopFlow>;

export const ListDesktopFlowsQuery = Type.Object({ environmentId: Type.Optional(Id) }, { additionalProperties: false });

// ── Runs ─────────────────────────────────────────────────────────────────────────────────

export const RUN_STATUSES = ['Queued', 'Assigned', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const RunStatusSchema = literals(RUN_STATUSES);
export const FINAL_RUN_STATUSES: readonly RunStatus[] = ['Succeeded', 'Failed', 'Cancelled', 'TimedOut'];

export const RUN_MODES = ['Attended', 'Unattended'] as const;
export type RunMode = (typeof RUN_MODES)[number];
export const RunModeSchema = literals(RUN_MODES);

export const RUN_PRIORITIES = ['High', 'Normal'] as const;
export type RunPriority = (typeof RUN_PRIORITIES)[number];
export const RunPrioritySchema = literals(RUN_PRIORITIES);

/**
 * Why a queued run is still waiting:
 * - `NoMachineOnline`: no machine of the target is connected;
 * - `AllMachinesBusy`: every suitable machine is running a flow;
 * - `Maintenance`: the group (or every online machine) is in maintenance;
 * - `NeedsAttendedSession`: an attended run, and the connection's user is not signed in (or their
 *   session is locked) on any online machine (the model's AttendedUserNotLoggedIn /
 *   AttendedUserSessionNotActive);
 * - `NeedsUnattendedMachine`: an unattended run, and no online machine accepts unattended runs;
 * - `RunUserSignedIn`: an unattended run, and the connection's user is signed in on every online
 *   machine that accepts them (the model's SessionExistsForTheUserWhenUnattended);
 * - `RejectedByMachines`: the online machines refused it (e.g. they cannot open its credentials);
 * - `QueueTimeoutNear`: it will fail with `QueueTimeout` soon (overrides the others);
 * - `Dispatching`: a machine is free; it is being handed over now.
 */
export const WAITING_REASONS = [
  'NoMachineOnline',
  'AllMachinesBusy',
  'Maintenance',
  'NeedsAttendedSession',
  'NeedsUnattendedMachine',
  'RunUserSignedIn',
  'RejectedByMachines',
  'QueueTimeoutNear',
  'Dispatching',
] as const;
export type WaitingReason = (typeof WAITING_REASONS)[number];

/** Error codes a finished run can carry (besides the flow's own). */
export const RUN_ERROR_CODES = [
  'FlowFailed',
  'MachineLost',
  'QueueTimeout',
  'RunTimeout',
  'ConnectionBroken',
  'TargetDeleted',
  'Cancelled',
  'CredentialsUnavailable',
  'SpawnFailed',
] as const;

/** Inputs and outputs: a JSON object, kept small (they travel on the agent socket). */
export const RunInputs = Type.Record(Type.String({ maxLength: 200 }), Type.Unknown(), {
  maxProperties: 100,
  description: 'A JSON object given to the flow on standard input',
});

export const CreateRunBody = Type.Object(
  {
    desktopFlowId: Id,
    connectionId: Id,
    runMode: RunModeSchema,
    priority: Type.Optional(RunPrioritySchema),
    inputs: Type.Optional(RunInputs),
  },
  { additionalProperties: false },
);
export type CreateRunBody = Static<typeof CreateRunBody>;

export const QueuedRun = Type.Object({ id: Id, status: Type.Literal('Queued') });

export const RunError = Type.Object({ code: Type.String(), message: Type.String() });

/** What a user may do to a run (`Run.allowedActions`, decided by the cloud's policy module). */
export const RUN_QUEUE_ACTIONS = ['cancel', 'changePriority', 'moveToTop'] as const;
export type RunQueueAction = (typeof RUN_QUEUE_ACTIONS)[number];

export const Run = Type.Object({
  id: Id,
  status: RunStatusSchema,
  desktopFlowId: Id,
  connectionId: Id,
  target: Type.Object({ type: literals(CONNECTION_TARGET_TYPES), id: Id }),
  runMode: RunModeSchema,
  priority: RunPrioritySchema,
  machineId: Type.Union([Id, Type.Null()]),
  attempt: Type.Integer(),
  queuedAt: Timestamp,
  assignedAt: NullableTimestamp,
  startedAt: NullableTimestamp,
  finishedAt: NullableTimestamp,
  cancelRequestedAt: NullableTimestamp,
  /** Set while a co-owner's "Move to top" holds the run ahead of every other queued run. */
  movedToTopAt: NullableTimestamp,
  /** While queued: its place in its queue in dispatch order (1 = next to run). */
  queuePosition: Type.Optional(Type.Integer({ minimum: 1 })),
  inputs: Type.Unknown(),
  outputs: Type.Unknown({ description: 'The JSON the flow produced; null until it succeeded' }),
  error: Type.Optional(RunError),
  waitingReason: Type.Optional(literals(WAITING_REASONS)),
  waitingDetail: Type.Optional(Type.String()),
  createdBy: Id,
  /** What the caller may do to the run now: cancel until it ends, reorder while it is queued. */
  allowedActions: Type.Array(literals(RUN_QUEUE_ACTIONS)),
});
export type Run = Static<typeof Run>;

export const ListRunsQuery = Type.Object(
  {
    groupId: Type.Optional(Id),
    machineId: Type.Optional(Id),
    status: Type.Optional(RunStatusSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);
export type ListRunsQuery = Static<typeof ListRunsQuery>;

export const RunLogLine = Type.Object({
  seq: Type.Integer(),
  at: Timestamp,
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr'), Type.Literal('system')]),
  line: Type.String(),
});
export type RunLogLine = Static<typeof RunLogLine>;

export const RunLogsQuery = Type.Object(
  { after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })) },
  { additionalProperties: false },
);

export const RunLogs = Type.Object({
  runId: Id,
  lines: Type.Array(RunLogLine),
  /** True when the flow wrote more than the cloud keeps (the rest was dropped). */
  truncated: Type.Boolean(),
});
export type RunLogs = Static<typeof RunLogs>;

// ── Queue actions and queue events ───────────────────────────────────────────────────────

/** `PATCH /runs/{id}`: change a queued run's priority (its creator, or who manages its target). */
export const UpdateRunBody = Type.Object({ priority: RunPrioritySchema }, { additionalProperties: false });
export type UpdateRunBody = Static<typeof UpdateRunBody>;

/**
 * What happened to a run in the queue, oldest first (`GET /runs/{id}/events`):
 * - `Queued` (actor, priority), `Assigned` (machine, attempt: "starting on machine X"),
 *   `Refused` (machine, code, message: the machine could not take it), `Requeued` (machine,
 *   code: it did not accept in time or went away before accepting), `Started` (machine),
 *   `PriorityChanged` (actor, priority), `MovedToTop` (actor), `CancelRequested` (actor),
 *   `Finished` (status, code, message).
 */
export const RUN_EVENT_KINDS = [
  'Queued',
  'Assigned',
  'Refused',
  'Requeued',
  'Started',
  'PriorityChanged',
  'MovedToTop',
  'CancelRequested',
  'Finished',
] as const;
export type RunEventKind = (typeof RUN_EVENT_KINDS)[number];

export const RunEvent = Type.Object({
  at: Timestamp,
  kind: literals(RUN_EVENT_KINDS),
  /** The machine concerned (its name is null once the machine was deleted). */
  machine: Type.Optional(Type.Object({ id: Id, name: Type.Union([Type.String(), Type.Null()]) })),
  attempt: Type.Optional(Type.Integer()),
  /** Who did it (queued, changed the priority, moved it, cancelled it). */
  actor: Type.Optional(Type.Object({ id: Id, displayName: Type.Union([Type.String(), Type.Null()]) })),
  priority: Type.Optional(RunPrioritySchema),
  status: Type.Optional(RunStatusSchema),
  code: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});
export type RunEvent = Static<typeof RunEvent>;

export const RunEvents = Type.Object({ runId: Id, events: Type.Array(RunEvent) });
export type RunEvents = Static<typeof RunEvents>;
