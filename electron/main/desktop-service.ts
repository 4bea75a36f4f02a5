/**
 * The plug between the IPC layer and the runtime core. Main's IPC layer (ipc.ts) validates each
 * call against protocol/desktop-api.ts and dispatches it to a `DesktopService`; the service that
 * hosts the runtime core (cloud client, identity, group crypto, agent) implements it. The
 * browser-mode host dispatches bridge messages to the same interface.
 *
 * Contract for implementations:
 *   - handlers receive params already validated;
 *   - a failure is thrown as anything with `{ code, message }` where `code` is a
 *     DesktopErrorCode (the cloud client's errors already are); anything else becomes
 *     `InternalError` and is logged, and network failures become `Unreachable`;
 *   - `subscribe` delivers `stateChanged` whenever the state the screens show changes and
 *     `progress` during long operations (key derivation).
 */
import type { DesktopState } from '../../protocol/desktop-api.ts';
import type { DesktopService } from '../runtime/desktop-service.ts';

// Declared with the runtime core's implementation (plain Node), which the browser-mode host shares.
export type { DesktopEventListener, DesktopService } from '../runtime/desktop-service.ts';

/**
 * Used until the runtime core's service is plugged in (and if it fails to start): every call
 * is refused with `ServiceUnavailable`, the state says "not signed in, not registered".
 */
export function createUnavailableDesktopService(info: { appVersion: string; hostName: string; reason: string }): DesktopService {
  const state: DesktopState = {
    appVersion: info.appVersion,
    runtimeVersion: info.appVersion,
    secretStore: 'memory',
    serverUrl: null,
    hostName: info.hostName,
    user: null,
    machine: null,
    group: null,
    connection: 'NotRegistered',
    lastHeartbeatAt: null,
    cloneWarning: null,
  };
  const refuse = async (): Promise<never> => {
    throw { code: 'ServiceUnavailable', message: info.reason };
  };
  return {
    getState: async () => state,
    needsSetup: refuse,
    setupServer: refuse,
    signIn: refuse,
    signOut: async () => state,
    listEnvironments: refuse,
    registerMachine: refuse,
    reRegisterMachine: refuse,
    updateMachine: refuse,
    listGroups: refuse,
    createGroup: refuse,
    joinGroup: refuse,
    leaveGroup: refuse,
    changeGroupPassword: refuse,
    editGroup: refuse,
    deleteGroup: refuse,
    listGroupMachines: refuse,
    removeGroupMachine: refuse,
    getGroupAccess: refuse,
    searchUsers: refuse,
    shareGroup: refuse,
    unshareGroup: refuse,
    runDiagnostics: refuse,
    getLogsLocation: refuse,
    exportLogs: refuse,
    listGroupRuns: refuse,
    listMachineRuns: refuse,
    getRunLogs: refuse,
    cancelRun: refuse,
    changeRunPriority: refuse,
    moveRunToTop: refuse,
    getRunEvents: refuse,
    setGroupMaintenance: refuse,
    setMachineMaintenance: refuse,
    subscribe: () => () => {},
    dispose: async () => {},
  };
}
