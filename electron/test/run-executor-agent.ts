/**
 * A machine's agent in its own process, for tests that kill it with SIGKILL: AgentConnection +
 * RunExecutor with the group key in a memory secret store. Configured by MR_TEST_AGENT (JSON):
 * { serverUrl, token, fingerprint, groupId, groupKeys, keyDelayMs? } — keyDelayMs holds the
 * assignment before it is accepted (to kill the agent in that window).
 */
import { AgentConnection } from '../runtime/agent-connection.ts';
import { RunExecutor } from '../runtime/run-executor.ts';
import { secretStoreCredentialKeys } from '../runtime/run-keys.ts';
import { MemorySecretStore, groupKeySecret } from '../runtime/secret-store.ts';
import { serializeGroupKeys, type GroupKeys } from '../runtime/group-crypto.ts';

const config = JSON.parse(process.env.MR_TEST_AGENT ?? '{}') as {
  serverUrl: string;
  token: string;
  fingerprint: string;
  groupId: string;
  groupKeys: GroupKeys;
  keyDelayMs?: number;
};
const secrets = new MemorySecretStore();
await secrets.set(groupKeySecret(config.groupId), serializeGroupKeys(config.groupKeys));
const keys = secretStoreCredentialKeys(secrets);
const agent = new AgentConnection({
  serverUrl: config.serverUrl,
  fingerprint: config.fingerprint,
  version: 'test-process',
  acceptsUnattended: true,
  backoff: { minMs: 100, maxMs: 400 },
  getAccessToken: async () => config.token,
});
const executor = new RunExecutor({
  link: agent,
  acceptsUnattended: true,
  keys: {
    async keyPairFor(target) {
      if (config.keyDelayMs) await new Promise((resolve) => setTimeout(resolve, config.keyDelayMs));
      return keys.keyPairFor(target);
    },
  },
});
agent.setRunningRunIds(() => executor.runningRunIds());
executor.on('event', (event) => process.stdout.write(`${JSON.stringify(event)}\n`));
agent.on('state', (state) => process.stdout.write(`${JSON.stringify({ type: 'state', status: state.status })}\n`));
executor.start();
agent.start();
