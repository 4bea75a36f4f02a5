/**
 * The desktop API: every call the renderer may make and every event it may receive, declared
 * ONCE here. Everything else is derived from these two maps:
 *   - `RuntimeApi`, the type of `window.runtime` (renderer),
 *   - the preload's exposed object and the main process's IPC handlers (Electron),
 *   - the WebSocket bridge (browser mode) — message format below,
 *   - `validateParams`, which main and the bridge host run on every incoming call before a
 *     handler sees it (arguments are `unknown` until validated).
 *
 * Calling convention: every method takes ONE params object (or none) and returns a promise.
 * A failed call rejects with a plain, serialisable `DesktopErrorEnvelope` `{ code, message }`
 * (not an Error: contextBridge and JSON both drop an Error's custom fields). `code` is a cloud
 * code from protocol/errors.ts or one of the local codes below; the renderer maps codes to
 * sentences and never parses `message`.
 *
 * Secrets stay in the process that hosts the runtime core: the renderer sends a password with
 * an action ("join this group with this password") and never reads a key or a token back.
 *
 * ## WebSocket bridge (browser mode)
 * The renderer served by the local host connects to
 *     ws://<host>/bridge?token=<per-launch token>
 * The host refuses an upgrade without the right token (HTTP 401) or with a foreign `Origin`
 * (HTTP 403). Then, JSON text frames:
 *   client → host  `{ "id": 7, "method": "joinGroup", "params": { "groupId": "…", "password": "…" } }`
 *                  (`params` may be omitted for methods without parameters; `id` is a positive
 *                  integer chosen by the client, unique among its pending calls)
 *   host → client  `{ "id": 7, "result": <result> }`  or  `{ "id": 7, "error": { "code", "message" } }`
 *                  (exactly one answer per request; an unknown method → error `UnknownMethod`,
 *                  params failing `validateParams` → error `ValidationFailed`)
 *   host → client  `{ "event": "stateChanged", "payload": <DesktopState> }`   (pushes, no id)
 * Every connected client receives every event; the client dispatches them to `on` listeners.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { NEW_GROUP_PASSWORD_MIN_LENGTH, type DesktopErrorEnvelope, type EventName, type MethodName } from './desktop-api-names.ts';

// The names, error envelope and channel constants live in a schema-free module so that the
// sandboxed preload and the renderer bundle them without TypeBox.
export * from './desktop-api-names.ts';
import { AccessLevelSchema, Description, DisplayName, Email, Id, ObjectName } from './api/common.ts';
import { CONNECTION_TARGET_TYPES, RUN_EVENT_KINDS, RUN_MODES, RUN_PRIORITIES, RUN_QUEUE_ACTIONS, RUN_STATUSES, WAITING_REASONS } from './api/runs.ts';

// Type.Enum, not Type.Union(list.map(Type.Literal)): the latter's static type is `never`.

// ---------------------------------------------------------------------------------------------
// Shapes the screens show

const ServerUrl = Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://' });
/** Typed when joining: any non-empty password may be tried (a wrong one fails the key check). */
const GroupPasswordAttempt = Type.String({ minLength: 1, maxLength: 256 });
const NewGroupPassword = Type.String({ minLength: NEW_GROUP_PASSWORD_MIN_LENGTH, maxLength: 256 });
const UserPasswordAttempt = Type.String({ minLength: 1, maxLength: 256 });
const NewUserPassword = Type.String({ minLength: 8, maxLength: 256 });
const Nothing = Type.Object({}, { additionalProperties: false });
const Ok = Type.Object({ ok: Type.Literal(true) });

/** What the machine's agent connection is doing (tray and Machine settings show it). */
export const CONNECTION_STATES = ['NotRegistered', 'Connecting', 'Online', 'Offline'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** Where secrets live on this machine. */
export const SECRET_STORE_KINDS = ['keychain', 'file', 'memory'] as const;
export type SecretStoreKind = (typeof SECRET_STORE_KINDS)[number];

/** Group actions, named as the cloud's permission module names them. */
export const GROUP_ACTIONS = ['run', 'share', 'addMachines', 'removeMachines', 'editDetails', 'delete'] as const;
export type GroupAction = (typeof GROUP_ACTIONS)[number];

export const DesktopStateSchema = Type.Object({
  appVersion: Type.String(),
  runtimeVersion: Type.String(),
  secretStore: Type.Enum(SECRET_STORE_KINDS),
  /** The server this machine talks to; prefilled on the sign-in screen. */
  serverUrl: Type.Union([Type.String(), Type.Null()]),
  /** This computer's host name, offered as the machine name before registration. */
  hostName: Type.String(),
  user: Type.Union([
    Type.Object({
      id: Id,
      email: Type.String(),
      displayName: Type.String(),
      /** Whether the user's roles let them create machine groups (the app hides the button otherwise). */
      mayCreateGroup: Type.Boolean(),
    }),
    Type.Null(),
  ]),
  machine: Type.Union([
    Type.Object({
      id: Id,
      name: Type.String(),
      description: Type.String(),
      environmentId: Id,
      environmentName: Type.String(),
    }),
    Type.Null(),
  ]),
  /** The group this machine is in. */
  group: Type.Union([Type.Object({ id: Id, name: Type.String() }), Type.Null()]),
  connection: Type.Enum(CONNECTION_STATES),
  /** ISO time of the last heartbeat the cloud acknowledged. */
  lastHeartbeatAt: Type.Union([Type.String(), Type.Null()]),
  /** Set when the cloud refused this machine as a copy of another (MachineCloned / SessionConflict). */
  cloneWarning: Type.Union([
    Type.Object({ code: Type.Union([Type.Literal('MachineCloned'), Type.Literal('SessionConflict')]), message: Type.String() }),
    Type.Null(),
  ]),
});
export type DesktopState = Static<typeof DesktopStateSchema>;

export const EnvironmentSchema = Type.Object({
  id: Id,
  name: Type.String(),
  isDefault: Type.Boolean(),
  /** Whether the signed-in user may register a machine in it. */
  mayRegister: Type.Boolean(),
});
export type DesktopEnvironment = Static<typeof EnvironmentSchema>;

export const GroupSchema = Type.Object({
  id: Id,
  name: Type.String(),
  description: Type.String(),
  machineCount: Type.Integer(),
  runningCount: Type.Integer(),
  queuedCount: Type.Integer(),
  /** The signed-in user's access (an environment admin without access sees null). */
  access: Type.Union([AccessLevelSchema, Type.Null()]),
  owner: Type.Object({ id: Id, displayName: Type.String() }),
  /** False until the first machine joins and sets the password. */
  hasPassword: Type.Boolean(),
  /** In maintenance: no new runs start on its machines; running runs finish. */
  maintenance: Type.Boolean(),
  /** What the signed-in user may do with the group; the app offers nothing else. */
  allowedActions: Type.Array(Type.Enum(GROUP_ACTIONS)),
});
export type DesktopGroup = Static<typeof GroupSchema>;

export const MACHINE_STATUSES = ['Online', 'Offline', 'Busy', 'Maintenance'] as const;
export type MachineStatus = (typeof MACHINE_STATUSES)[number];

export const GroupMachineSchema = Type.Object({
  id: Id,
  name: Type.String(),
  description: Type.String(),
  status: Type.Enum(MACHINE_STATUSES),
  /** The machine's own maintenance switch (its status also says Maintenance when its group is in maintenance). */
  maintenance: Type.Boolean(),
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
  owner: Type.Object({ id: Id, displayName: Type.String() }),
  /** True for the machine this app runs on. */
  isThisMachine: Type.Boolean(),
});
export type DesktopGroupMachine = Static<typeof GroupMachineSchema>;

export const UserSummarySchema = Type.Object({ id: Id, email: Type.String(), displayName: Type.String() });
export type DesktopUser = Static<typeof UserSummarySchema>;

export const AccessEntrySchema = Type.Object({ user: UserSummarySchema, access: AccessLevelSchema });
export type DesktopAccessEntry = Static<typeof AccessEntrySchema>;

export const SharedAccessSchema = Type.Union([Type.Literal('CoOwner'), Type.Literal('User')]);
export type SharedAccess = Static<typeof SharedAccessSchema>;

export { RUN_EVENT_KINDS, RUN_PRIORITIES, RUN_STATUSES, WAITING_REASONS };
export type RunStatus = (typeof RUN_STATUSES)[number];
export type WaitingReason = (typeof WAITING_REASONS)[number];
export type RunPriority = (typeof RUN_PRIORITIES)[number];
export type RunEventKind = (typeof RUN_EVENT_KINDS)[number];

/**
 * What the signed-in user may do with a run now, as the cloud decides it (the run's
 * `allowedActions`, from its policy module): cancel it, change its priority, move it to the top
 * of its queue. The last two only while it is queued.
 */
export const RUN_ACTIONS = RUN_QUEUE_ACTIONS;
export type RunAction = (typeof RUN_ACTIONS)[number];

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** A desktop flow run as the run queue and the machine's history show it. */
export const RunSchema = Type.Object({
  id: Id,
  status: Type.Enum(RUN_STATUSES),
  flow: Type.Object({ id: Id, name: Type.String() }),
  runMode: Type.Enum(RUN_MODES),
  priority: Type.Enum(RUN_PRIORITIES),
  /** What it was queued on: a machine group, or one machine. */
  target: Type.Object({ type: Type.Enum(CONNECTION_TARGET_TYPES), id: Id, name: Type.String() }),
  /** The machine it was handed to; null while it waits in the queue. */
  machine: Type.Union([Type.Object({ id: Id, name: Type.String(), isThisMachine: Type.Boolean() }), Type.Null()]),
  queuedAt: Type.String(),
  startedAt: NullableString,
  finishedAt: NullableString,
  /** While queued: why it waits, and that reason in a sentence. */
  waitingReason: Type.Union([Type.Enum(WAITING_REASONS), Type.Null()]),
  waitingDetail: NullableString,
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  /** A cancel was asked and the machine is stopping the flow. */
  cancelRequested: Type.Boolean(),
  /** While queued: its place in its queue, in the order runs start (1 = next to run); null otherwise. */
  queuePosition: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  /** Set while a "Move to top" keeps it ahead of every other queued run (until its priority is changed). */
  movedToTopAt: NullableString,
  /**
   * What the signed-in user may do with it now, as the cloud tells (its policy: whoever queued it
   * may cancel it and change its priority; those who manage its target — a group's co-owners, the
   * machine's owner — and admins may also move it to the top). Reordering only while it is queued.
   */
  allowedActions: Type.Array(Type.Enum(RUN_ACTIONS)),
});
export type DesktopRun = Static<typeof RunSchema>;

export const GroupRunsSchema = Type.Object({
  groupId: Id,
  /** Handed to a machine (Assigned) or running, oldest first. */
  running: Type.Array(RunSchema),
  /** Waiting, in the order they will start (moved to top, then High, then Normal, oldest first). */
  queued: Type.Array(RunSchema),
  /** The last runs that ended, newest first. */
  recent: Type.Array(RunSchema),
});
export type DesktopGroupRuns = Static<typeof GroupRunsSchema>;

export const MachineRunsSchema = Type.Object({
  /** This machine as the cloud sees it, and whether the user may switch its maintenance mode. */
  machine: Type.Object({
    id: Id,
    name: Type.String(),
    status: Type.Enum(MACHINE_STATUSES),
    maintenance: Type.Boolean(),
    mayEdit: Type.Boolean(),
  }),
  /** Queued on it, handed to it, or running on it. */
  current: Type.Array(RunSchema),
  /** The last runs that ended on it, newest first. */
  recent: Type.Array(RunSchema),
});
export type DesktopMachineRuns = Static<typeof MachineRunsSchema>;

export const RunLogLineSchema = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr'), Type.Literal('system')]),
  line: Type.String(),
});
export const RunLogsSchema = Type.Object({
  runId: Id,
  lines: Type.Array(RunLogLineSchema),
  /** The flow wrote more than the cloud keeps; the rest was dropped. */
  truncated: Type.Boolean(),
});
export type DesktopRunLogs = Static<typeof RunLogsSchema>;

/**
 * One thing that happened to a run in the queue (the cloud's `RunEvent`, protocol/api/runs.ts):
 * `Queued` (actor, priority), `Assigned` (machine, attempt: starting on it), `Refused` (machine,
 * code, message), `Requeued` (machine, code), `Started` (machine), `PriorityChanged` (actor,
 * priority), `MovedToTop` (actor), `CancelRequested` (actor), `Finished` (status, code, message).
 * A machine or person that no longer exists has a null name.
 */
export const RunEventSchema = Type.Object({
  at: Type.String(),
  kind: Type.Enum(RUN_EVENT_KINDS),
  machine: Type.Union([Type.Object({ id: Id, name: NullableString }), Type.Null()]),
  attempt: Type.Union([Type.Integer(), Type.Null()]),
  actor: Type.Union([Type.Object({ id: Id, displayName: NullableString }), Type.Null()]),
  priority: Type.Union([Type.Enum(RUN_PRIORITIES), Type.Null()]),
  status: Type.Union([Type.Enum(RUN_STATUSES), Type.Null()]),
  code: NullableString,
  message: NullableString,
});
export type DesktopRunEvent = Static<typeof RunEventSchema>;
export const RunEventsSchema = Type.Object({ runId: Id, events: Type.Array(RunEventSchema) });
export type DesktopRunEvents = Static<typeof RunEventsSchema>;

export const DiagnosticCheckSchema = Type.Object({
  id: Type.Union([Type.Literal('cloud'), Type.Literal('socket'), Type.Literal('clock'), Type.String()]),
  /** A short human label, e.g. "Cloud reachable". */
  name: Type.String(),
  ok: Type.Boolean(),
  /** One sentence: what was checked or what failed. */
  detail: Type.String(),
});
export const DiagnosticsSchema = Type.Object({
  checkedAt: Type.String(),
  serverUrl: Type.Union([Type.String(), Type.Null()]),
  checks: Type.Array(DiagnosticCheckSchema),
  /** Local clock minus the cloud's, in milliseconds, when it could be measured. */
  clockSkewMs: Type.Union([Type.Number(), Type.Null()]),
});
export type DesktopDiagnostics = Static<typeof DiagnosticsSchema>;

// ---------------------------------------------------------------------------------------------
// The methods: name → { params, result }. Params are validated; results are documented.

function method<P extends TSchema, R extends TSchema>(params: P, result: R, summary: string) {
  return { params, result, summary };
}
interface MethodSpec {
  params: TSchema;
  result: TSchema;
  summary: string;
}

export const DESKTOP_METHODS = {
  getState: method(Nothing, DesktopStateSchema, 'The machine, the user and the connection, as the screens show them.'),
  needsSetup: method(
    Type.Object({ serverUrl: ServerUrl }, { additionalProperties: false }),
    Type.Object({ needsSetup: Type.Boolean() }),
    'Whether the server at this address is fresh (no administrator yet).',
  ),
  setupServer: method(
    Type.Object(
      { serverUrl: ServerUrl, email: Email, password: NewUserPassword, displayName: DisplayName },
      { additionalProperties: false },
    ),
    DesktopStateSchema,
    'Creates the first administrator of a fresh server and signs in as them.',
  ),
  signIn: method(
    Type.Object({ serverUrl: ServerUrl, email: Email, password: UserPasswordAttempt }, { additionalProperties: false }),
    DesktopStateSchema,
    'Signs in; the refresh token stays in the secret store of the hosting process.',
  ),
  signOut: method(Nothing, DesktopStateSchema, 'Forgets the tokens of the signed-in user.'),
  listEnvironments: method(Nothing, Type.Array(EnvironmentSchema), 'The environments the user belongs to.'),
  registerMachine: method(
    Type.Object(
      { name: ObjectName, description: Type.Optional(Description), environmentId: Type.Optional(Id) },
      { additionalProperties: false },
    ),
    DesktopStateSchema,
    'Registers this machine (fresh key pairs, fingerprint).',
  ),
  reRegisterMachine: method(
    Type.Object(
      { name: ObjectName, description: Type.Optional(Description), environmentId: Type.Optional(Id) },
      { additionalProperties: false },
    ),
    DesktopStateSchema,
    'Registers this machine again as a new machine (fresh keys); its connections break.',
  ),
  updateMachine: method(
    Type.Object({ name: ObjectName, description: Description }, { additionalProperties: false }),
    DesktopStateSchema,
    "Changes this machine's name and description.",
  ),
  listGroups: method(Nothing, Type.Array(GroupSchema), 'The machine groups the user can see.'),
  createGroup: method(
    Type.Object({ name: ObjectName, description: Type.Optional(Description) }, { additionalProperties: false }),
    GroupSchema,
    'Creates a machine group (without a password: the first machine to join sets it).',
  ),
  joinGroup: method(
    Type.Object({ groupId: Id, password: GroupPasswordAttempt }, { additionalProperties: false }),
    DesktopStateSchema,
    'Adds this machine to the group, leaving its current group if any. For a group without a ' +
      'password, this password becomes the group password. Key derivation runs in the host ' +
      'process and reports `progress`.',
  ),
  leaveGroup: method(Nothing, DesktopStateSchema, 'This machine leaves its group and forgets the group key.'),
  changeGroupPassword: method(
    Type.Object({ groupId: Id, newPassword: NewGroupPassword }, { additionalProperties: false }),
    Ok,
    'On a member machine: re-wraps the group key under a new password.',
  ),
  editGroup: method(
    Type.Object({ groupId: Id, name: ObjectName, description: Description }, { additionalProperties: false }),
    GroupSchema,
    "Changes a group's name and description.",
  ),
  deleteGroup: method(
    Type.Object({ groupId: Id }, { additionalProperties: false }),
    Ok,
    'Deletes an empty group (409 GroupNotEmpty otherwise).',
  ),
  listGroupMachines: method(
    Type.Object({ groupId: Id }, { additionalProperties: false }),
    Type.Array(GroupMachineSchema),
    'The machines of a group with their status.',
  ),
  removeGroupMachine: method(
    Type.Object({ groupId: Id, machineId: Id }, { additionalProperties: false }),
    Ok,
    'A co-owner removes a machine from the group.',
  ),
  getGroupAccess: method(
    Type.Object({ groupId: Id }, { additionalProperties: false }),
    Type.Array(AccessEntrySchema),
    'Who has access to the group (owner first).',
  ),
  searchUsers: method(
    Type.Object({ query: Type.String({ maxLength: 254 }) }, { additionalProperties: false }),
    Type.Array(UserSummarySchema),
    'Users matching a name or email, for the share picker.',
  ),
  shareGroup: method(
    Type.Object({ groupId: Id, userId: Id, access: SharedAccessSchema }, { additionalProperties: false }),
    Type.Array(AccessEntrySchema),
    'Gives a user Co-owner or User access; returns the new access list.',
  ),
  unshareGroup: method(
    Type.Object({ groupId: Id, userId: Id }, { additionalProperties: false }),
    Type.Array(AccessEntrySchema),
    "Removes a user's access; returns the new access list.",
  ),
  runDiagnostics: method(Nothing, DiagnosticsSchema, 'Cloud reachable, agent socket connected, clock skew.'),
  getLogsLocation: method(Nothing, Type.Object({ path: Type.String() }), 'The folder that holds the logs.'),
  exportLogs: method(Nothing, Type.Object({ path: Type.String() }), 'Writes the logs into one archive; returns its path.'),
  listGroupRuns: method(
    Type.Object({ groupId: Id }, { additionalProperties: false }),
    GroupRunsSchema,
    "A group's run queue: its running and queued runs (with why they wait) and the last that ended.",
  ),
  listMachineRuns: method(Nothing, MachineRunsSchema, "This machine's current and recent runs, its status and maintenance mode."),
  getRunLogs: method(
    Type.Object({ runId: Id, after: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
    RunLogsSchema,
    "A run's log lines, oldest first (only those after the `after` sequence number, when given).",
  ),
  cancelRun: method(
    Type.Object({ runId: Id }, { additionalProperties: false }),
    RunSchema,
    'Cancels a run: a queued one ends at once, a running one is stopped on its machine.',
  ),
  changeRunPriority: method(
    Type.Object({ runId: Id, priority: Type.Enum(RUN_PRIORITIES) }, { additionalProperties: false }),
    RunSchema,
    "Changes a queued run's priority (whoever queued it, those who manage its target); a run moved to the top goes back to its priority. RunNotQueued once a machine has it.",
  ),
  moveRunToTop: method(
    Type.Object({ runId: Id }, { additionalProperties: false }),
    RunSchema,
    'Puts a queued run ahead of every other queued run (co-owners of its group, the machine owner, admins). RunNotQueued once a machine has it.',
  ),
  getRunEvents: method(
    Type.Object({ runId: Id }, { additionalProperties: false }),
    RunEventsSchema,
    "A run's queue events, oldest first: queued, starting on a machine, refused by a machine, priority changed, moved to top, finished.",
  ),
  setGroupMaintenance: method(
    Type.Object({ groupId: Id, maintenance: Type.Boolean() }, { additionalProperties: false }),
    GroupSchema,
    "Switches a group's maintenance mode (co-owners): no new runs start on its machines; running runs finish.",
  ),
  setMachineMaintenance: method(
    Type.Object({ machineId: Id, maintenance: Type.Boolean() }, { additionalProperties: false }),
    GroupMachineSchema,
    "Switches a machine's maintenance mode (its owner): no new runs start on it; a running run finishes.",
  ),
} as const satisfies Record<MethodName, MethodSpec>;

export type DesktopMethods = typeof DESKTOP_METHODS;
export type MethodParams<M extends MethodName> = Static<DesktopMethods[M]['params']>;
export type MethodResult<M extends MethodName> = Static<DesktopMethods[M]['result']>;


// ---------------------------------------------------------------------------------------------
// The events: name → payload.

export const ProgressSchema = Type.Object({
  /** The method this progress belongs to, e.g. `joinGroup`. */
  operation: Type.String(),
  /** What is happening now, e.g. "Deriving the group key…". */
  message: Type.String(),
  /** 0..1 when known. */
  fraction: Type.Optional(Type.Number()),
  /** True on the last progress message of the operation. */
  done: Type.Optional(Type.Boolean()),
});
export type DesktopProgress = Static<typeof ProgressSchema>;

export const DESKTOP_EVENTS = {
  /** The state changed (sign-in, registration, group, connection, heartbeat). */
  stateChanged: DesktopStateSchema,
  /** A long operation reports what it is doing. */
  progress: ProgressSchema,
} as const satisfies Record<EventName, TSchema>;

export type DesktopEvents = typeof DESKTOP_EVENTS;
export type EventPayload<E extends EventName> = Static<DesktopEvents[E]>;

// ---------------------------------------------------------------------------------------------
// The derived API of `window.runtime`.

export type RuntimeMethod<M extends MethodName> =
  [keyof MethodParams<M>] extends [never]
    ? () => Promise<MethodResult<M>>
    : (params: MethodParams<M>) => Promise<MethodResult<M>>;

export type RuntimeApi = { readonly [M in MethodName]: RuntimeMethod<M> } & {
  /** Subscribes to an event; returns the function that unsubscribes this listener only. */
  readonly on: <E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) => () => void;
};

/** What hosts of the runtime core implement (Electron main, browser-mode host). */
export type DesktopHandlers = { [M in MethodName]: (params: MethodParams<M>) => Promise<MethodResult<M>> };

// ---------------------------------------------------------------------------------------------
// Validation (hosts only: it compiles validators, which needs `new Function` — never call it
// in the renderer, whose CSP forbids eval).

const compiled = new Map<MethodName, ReturnType<typeof Compile>>();

export type ParamsCheck<M extends MethodName> =
  | { ok: true; params: MethodParams<M> }
  | { ok: false; error: DesktopErrorEnvelope };

/** Validates a call's params (`undefined` is read as `{}`), before any handler sees them. */
export function validateParams<M extends MethodName>(name: M, params: unknown): ParamsCheck<M> {
  let validator = compiled.get(name);
  if (!validator) {
    validator = Compile(DESKTOP_METHODS[name].params as TSchema);
    compiled.set(name, validator);
  }
  const value = params === undefined ? {} : params;
  if (validator.Check(value)) return { ok: true, params: value as MethodParams<M> };
  const first = validator.Errors(value)[0];
  const where = first?.instancePath ? ` (${first.instancePath.slice(1)})` : '';
  return {
    ok: false,
    error: { code: 'ValidationFailed', message: `Invalid arguments for ${name}${where}: ${first?.message ?? 'not valid'}.` },
  };
}

// ---------------------------------------------------------------------------------------------
// Bridge messages (browser mode; see the header).

export interface BridgeRequest {
  id: number;
  method: MethodName;
  params?: unknown;
}
export type BridgeResponse =
  | { id: number; result: unknown; error?: undefined }
  | { id: number; error: DesktopErrorEnvelope; result?: undefined };
export interface BridgeEvent<E extends EventName = EventName> {
  event: E;
  payload: EventPayload<E>;
}
export type BridgeServerMessage = BridgeResponse | BridgeEvent;

/** Electron IPC (see `ipcChannel` in desktop-api-names.ts): main's answer to every call. */
export type IpcReply = { ok: true; result: unknown } | { ok: false; error: DesktopErrorEnvelope };
