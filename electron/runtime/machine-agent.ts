/**
 * This machine's agent: the socket to the cloud for one profile, with the run executor that
 * takes the runs the cloud pushes on it. The CLI's `agent` command, the browser-mode host and
 * the Electron main process all start it from here.
 */
import { AgentConnection, type AgentConnectionOptions } from './agent-connection.ts';
import { CloudError, type CloudClient } from './cloud-client.ts';
import type { RuntimeProfile } from './profile.ts';
import { RunExecutor } from './run-executor.ts';
import { secretStoreCredentialKeys } from './run-keys.ts';
import { RUNTIME_VERSION } from './version.ts';

export type MachineAgentOptions = Partial<Omit<AgentConnectionOptions, 'serverUrl' | 'getAccessToken' | 'fingerprint'>> & {
  /** Parent folder of the runs' working folders (default: the OS temp folder). */
  workRoot?: string;
};

/** The agent connection plus its run executor; `stop()` ends a running flow before closing. */
export class MachineAgent extends AgentConnection {
  readonly executor: RunExecutor;

  constructor(options: AgentConnectionOptions, profile: RuntimeProfile, workRoot?: string) {
    super(options);
    this.executor = new RunExecutor({
      link: this,
      keys: secretStoreCredentialKeys(profile.secrets),
      acceptsUnattended: options.acceptsUnattended ?? true,
      ...(options.session ? { session: options.session } : {}),
      ...(workRoot ? { workRoot } : {}),
    });
    this.setRunningRunIds(() => this.executor.runningRunIds());
  }

  override start(): void {
    this.executor.start();
    super.start();
  }

  override async stop(): Promise<void> {
    await this.executor.stop();
    await super.stop();
  }
}

export async function createMachineAgent(
  profile: RuntimeProfile,
  cloud: CloudClient,
  options: MachineAgentOptions = {},
): Promise<MachineAgent> {
  if (!profile.isRegistered()) {
    throw new CloudError({ status: 0, code: 'NotRegistered', detail: 'Register this machine first (machine-runtime register).' });
  }
  const { workRoot, ...connection } = options;
  return new MachineAgent(
    {
      version: RUNTIME_VERSION,
      ...connection,
      serverUrl: cloud.serverUrl,
      fingerprint: await profile.fingerprint(),
      getAccessToken: (forceRefresh) => cloud.accessToken('machine', { forceRefresh }),
    },
    profile,
    workRoot,
  );
}
