/**
 * This machine's agent: the socket to the cloud for one profile. The CLI's `agent` command, the
 * browser-mode host and the Electron main process all start it from here.
 */
import { AgentConnection, type AgentConnectionOptions } from './agent-connection.ts';
import { CloudError, type CloudClient } from './cloud-client.ts';
import type { RuntimeProfile } from './profile.ts';
import { RUNTIME_VERSION } from './version.ts';

export async function createMachineAgent(
  profile: RuntimeProfile,
  cloud: CloudClient,
  options: Partial<Omit<AgentConnectionOptions, 'serverUrl' | 'getAccessToken' | 'fingerprint'>> = {},
): Promise<AgentConnection> {
  if (!profile.isRegistered()) {
    throw new CloudError({ status: 0, code: 'NotRegistered', detail: 'Register this machine first (machine-runtime register).' });
  }
  return new AgentConnection({
    version: RUNTIME_VERSION,
    ...options,
    serverUrl: cloud.serverUrl,
    fingerprint: await profile.fingerprint(),
    getAccessToken: (forceRefresh) => cloud.accessToken('machine', { forceRefresh }),
  });
}
