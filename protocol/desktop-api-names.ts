/**
 * The schema-free half of the desktop API (protocol/desktop-api.ts re-exports all of it): method
 * and event names, the error envelope, and the IPC/bridge constants. The sandboxed preload and
 * the renderer import values from here, so TypeBox stays out of their bundles. desktop-api.ts
 * declares the schemas with `satisfies Record<MethodName, …>`, so a name missing on either side
 * does not compile.
 */
import { ERROR_STATUS, type ErrorCode } from './errors.ts';

export const METHOD_NAMES = [
  'getState',
  'needsSetup',
  'setupServer',
  'signIn',
  'signOut',
  'listEnvironments',
  'registerMachine',
  'reRegisterMachine',
  'updateMachine',
  'listGroups',
  'createGroup',
  'joinGroup',
  'leaveGroup',
  'changeGroupPassword',
  'editGroup',
  'deleteGroup',
  'listGroupMachines',
  'removeGroupMachine',
  'getGroupAccess',
  'searchUsers',
  'shareGroup',
  'unshareGroup',
  'runDiagnostics',
  'getLogsLocation',
  'exportLogs',
  'listGroupRuns',
  'listMachineRuns',
  'getRunLogs',
  'cancelRun',
  'changeRunPriority',
  'moveRunToTop',
  'getRunEvents',
  'setGroupMaintenance',
  'setMachineMaintenance',
] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** A password the user sets for a group (joining may try any non-empty one). */
export const NEW_GROUP_PASSWORD_MIN_LENGTH = 8;

export const EVENT_NAMES = ['stateChanged', 'progress'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

export function isMethodName(value: unknown): value is MethodName {
  return typeof value === 'string' && (METHOD_NAMES as readonly string[]).includes(value);
}

export function isEventName(value: unknown): value is EventName {
  return typeof value === 'string' && (EVENT_NAMES as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Codes that arise on the machine itself rather than on the cloud. */
export const LOCAL_ERROR_CODES = [
  /** The cloud cannot be reached (DNS, refused, TLS, timeout). */
  'Unreachable',
  /** The action needs a signed-in user. */
  'NotSignedIn',
  /** The action needs this machine to be registered. */
  'NotRegistered',
  /** The renderer called a method that does not exist. */
  'UnknownMethod',
  /** An IPC message came from a frame that is not the app's own page. */
  'UntrustedSender',
  /** Browser mode: the connection to the local host is closed. */
  'HostUnavailable',
] as const;
export type LocalErrorCode = (typeof LOCAL_ERROR_CODES)[number];
export type DesktopErrorCode = ErrorCode | LocalErrorCode;

export interface DesktopErrorEnvelope {
  code: DesktopErrorCode;
  message: string;
  /** Seconds to wait, for `RateLimited`. */
  retryAfter?: number;
}

export function isDesktopErrorCode(value: unknown): value is DesktopErrorCode {
  return (
    typeof value === 'string' &&
    (Object.hasOwn(ERROR_STATUS, value) || (LOCAL_ERROR_CODES as readonly string[]).includes(value))
  );
}

export function isDesktopErrorEnvelope(value: unknown): value is DesktopErrorEnvelope {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return isDesktopErrorCode(v.code) && typeof v.message === 'string';
}

/** Turns anything thrown into an envelope; unknown failures become `InternalError`. */
export function toErrorEnvelope(error: unknown): DesktopErrorEnvelope {
  if (isDesktopErrorEnvelope(error)) {
    const envelope: DesktopErrorEnvelope = { code: error.code, message: error.message };
    if (typeof error.retryAfter === 'number') envelope.retryAfter = error.retryAfter;
    return envelope;
  }
  return { code: 'InternalError', message: 'Something went wrong in Machine Runtime.' };
}

// ---------------------------------------------------------------------------------------------
// Transport constants

/** Browser mode: the WebSocket path of the bridge (message format in desktop-api.ts). */
export const BRIDGE_PATH = '/bridge';

/**
 * Electron IPC: one `invoke` channel per method, carrying the params object (or nothing); main
 * answers every call with an `IpcReply` (never a rejection, so the envelope's fields survive),
 * and the preload turns `{ ok: false }` into a rejection with the envelope. Events travel on one
 * channel as `BridgeEvent` objects.
 */
export const ipcChannel = (name: MethodName) => `runtime:${name}`;
export const IPC_EVENT_CHANNEL = 'runtime:event';
