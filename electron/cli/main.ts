/**
 * `machine-runtime`: silent registration and group membership for IT staff, and a headless
 * agent (CONTRACT.md, "CLI"). Every command opens the profile (`--profile DIR`,
 * MACHINE_RUNTIME_HOME, or the user's data folder), talks to the cloud through the runtime core
 * and ends with one sentence (or one JSON document with `--json`) and a contract exit code.
 */
import os from 'node:os';
import { Argument, Command, CommanderError, Option } from 'commander';
import { RuntimeProfile } from '../runtime/profile.ts';
import { CloudError, type CloudClient } from '../runtime/cloud-client.ts';
import { GroupCryptoError } from '../runtime/group-crypto.ts';
import { SecretStoreError } from '../runtime/secret-store.ts';
import { changeGroupPassword, joinGroup, leaveGroup, resolveGroup } from '../runtime/membership.ts';
import { createMachineAgent } from '../runtime/machine-agent.ts';
import { RUNTIME_VERSION } from '../runtime/version.ts';
import { RUN_STATUSES, type Run, type RunEvent } from '../../protocol/cloud-api.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { createOutput, type Output } from './output.ts';
import { SecretReader, secretOnCommandLine } from './secret-input.ts';

interface GlobalOptions {
  server?: string;
  profile?: string;
  json?: boolean;
}

/** A mistake in how the command was called: exit 2. */
class UsageError extends Error {
  readonly code = 'Usage';
}

const program = new Command('machine-runtime')
  .description('Register this machine with a Machine Runtime cloud, manage its machine group, run its agent.')
  .version(RUNTIME_VERSION, '-V, --version')
  .option('--server <url>', 'the cloud address (remembered after first use)')
  .option('--profile <dir>', 'state folder for this machine (default: your data folder; env MACHINE_RUNTIME_HOME)')
  .option('--json', 'machine-readable output: one JSON document on stdout')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) });

let output: Output = createOutput(false);
const secrets = new SecretReader();

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>();
}

async function openProfile(): Promise<RuntimeProfile> {
  return RuntimeProfile.open({ ...(globals().profile ? { profileDir: globals().profile } : {}), warn: (line) => output.progress(line) });
}

async function openCloud(profile: RuntimeProfile): Promise<CloudClient> {
  try {
    return await profile.cloud(globals().server);
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/** The key derivation takes a moment (scrypt, 128 MiB): say so while it runs. */
const membershipProgress = {
  onProgress(phase: string): void {
    if (phase === 'deriving-key') output.progress('Deriving the group key from the password (this takes a moment)…');
  },
};

function isoOrDash(value: string | null | undefined): string {
  return value ? new Date(value).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

// ── sessions ──

program
  .command('setup')
  .description('create the first administrator of a fresh cloud (password on stdin)')
  .requiredOption('--email <email>', 'the administrator\'s email')
  .requiredOption('--name <name>', 'the administrator\'s display name')
  .action(async (options: { email: string; name: string }) => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const password = await secrets.readNew('New administrator password: ', 'Repeat the password: ');
    const result = await cloud.setup({ email: options.email, password, displayName: options.name });
    profile.rememberUser(result.user);
    output.result(`Set up ${cloud.serverUrl}: ${result.user.email} is its first administrator and is signed in.`, {
      server: cloud.serverUrl,
      user: result.user,
    });
  });

program
  .command('login')
  .description('sign in (password on stdin); the refresh token is kept in the secret store')
  .requiredOption('--email <email>', 'your email')
  .action(async (options: { email: string }) => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const password = await secrets.read('Password: ');
    await cloud.signIn(options.email, password);
    const me = await cloud.me();
    profile.rememberUser(me);
    output.result(`Signed in to ${cloud.serverUrl} as ${me.email}.`, { server: cloud.serverUrl, user: me });
  });

program
  .command('logout')
  .description('forget the tokens')
  .action(async () => {
    const profile = await openProfile();
    const { revokedOnServer } = await profile.signOut(globals().server);
    output.result(revokedOnServer ? 'Signed out.' : 'Signed out here (the server could not be told).', { signedOut: true, revokedOnServer });
  });

// ── machine ──

program
  .command('register')
  .description('register this machine (fresh key pairs, fingerprint); with --token-stdin, enrol with a registration token')
  .option('--name <name>', 'machine name (default: the host name)')
  .option('--description <text>', 'machine description')
  .option('--environment <id>', 'environment id (default: your default environment)')
  .option('--token-stdin', 'read a registration token from stdin instead of using the signed-in user')
  .option('--force', 're-register with fresh keys even if this machine is registered')
  .action(async (options: { name?: string; description?: string; environment?: string; tokenStdin?: boolean; force?: boolean }) => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    if (profile.isRegistered() && !options.force) {
      throw Object.assign(
        new Error(`This machine is already registered as ${profile.settings.get('machineName') ?? profile.settings.get('machineId')}; use --force to register it again with new keys.`),
        { code: 'AlreadyRegistered' },
      );
    }
    const registrationToken = options.tokenStdin ? await secrets.read('Registration token: ') : undefined;
    const machine = await profile.registerMachine(cloud, {
      name: options.name ?? os.hostname().slice(0, 100),
      ...(options.description !== undefined ? { description: options.description } : {}),
      ...(options.environment !== undefined ? { environmentId: options.environment } : {}),
      ...(registrationToken !== undefined ? { registrationToken } : {}),
      runtimeVersion: RUNTIME_VERSION,
    });
    output.result(`Registered this machine as "${machine.name}" (${machine.id}).`, { machine });
  });

program
  .command('status')
  .description('server, user, machine, group, connection state and where secrets are kept')
  .action(async () => {
    const profile = await openProfile();
    const local = await profile.localStatus();
    let machine: { status: string; lastSeenAt: string | null; groupId: string | null; cloneSuspected: boolean } | null = null;
    let group: { id: string; name: string } | null = null;
    let serverError: string | null = null;
    if (local.serverUrl && local.machine) {
      try {
        const cloud = await openCloud(profile);
        const remote = await cloud.getMachine(local.machine.id, 'machine');
        machine = { status: remote.status, lastSeenAt: remote.lastSeenAt, groupId: remote.groupId, cloneSuspected: remote.cloneSuspected };
        if (remote.groupId) {
          const found = (await cloud.listGroups({}, 'machine')).find((g) => g.id === remote.groupId);
          group = { id: remote.groupId, name: found?.name ?? local.group?.name ?? remote.groupId };
        }
      } catch (error) {
        serverError = error instanceof Error ? error.message : String(error);
      }
    }
    const data = { ...local, connection: machine, group: group ?? local.group, serverError };
    const lines = [
      `Server:   ${local.serverUrl ?? 'none (use --server URL)'}`,
      `User:     ${local.user ? `${local.user.email}${local.signedIn ? '' : ' (signed out)'}` : 'not signed in'}`,
      `Machine:  ${local.machine ? `${local.machine.name ?? '?'} (${local.machine.id})${local.machine.fingerprintMatches === false ? ' — fingerprint differs: this looks like a copy, register with --force' : ''}` : 'not registered'}`,
      `Group:    ${group ? `${group.name} (${group.id})` : local.group ? `${local.group.name ?? local.group.id}` : 'none'}`,
      `Socket:   ${machine ? `${machine.status}, last seen ${isoOrDash(machine.lastSeenAt)}${machine.cloneSuspected ? ', clone suspected' : ''}` : serverError ? `unknown (${serverError})` : 'n/a'}`,
      `Secrets:  ${local.secretStore.kind === 'keychain' ? 'OS keychain' : local.secretStore.kind === 'file' ? 'fallback file' : 'memory'} (${local.secretStore.location})`,
      `Profile:  ${local.profileDir}`,
    ];
    output.result(lines.join('\n'), data);
  });

// ── registration tokens (for IT staff enrolling VMs) ──

program
  .command('registration-token')
  .description('create a registration token for enrolling VMs (shown once)')
  .option('--environment <id>', 'environment id (default: your default environment)')
  .option('--expires-in <seconds>', 'lifetime in seconds (default 3600)')
  .option('--max-uses <n>', 'how many machines may use it (default 1)')
  .action(async (options: { environment?: string; expiresIn?: string; maxUses?: string }) => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const environmentId = options.environment ?? (await defaultEnvironment(cloud));
    const body: { expiresInSeconds?: number; maxUses?: number } = {};
    if (options.expiresIn !== undefined) body.expiresInSeconds = positiveInteger(options.expiresIn, '--expires-in');
    if (options.maxUses !== undefined) body.maxUses = positiveInteger(options.maxUses, '--max-uses');
    const created = await cloud.createRegistrationToken(environmentId, body);
    if (output.json) output.result('', created);
    else process.stdout.write(`${created.token}\n`);
    output.progress(`Registration token created; it expires at ${isoOrDash(created.expiresAt)}. It is shown only once.`);
  });

async function defaultEnvironment(cloud: CloudClient): Promise<string> {
  const environments = await cloud.listEnvironments();
  const chosen = environments.find((e) => e.isDefault) ?? environments[0];
  if (!chosen) throw new CloudError({ status: 403, code: 'Forbidden', detail: 'You have no role in any environment.' });
  return chosen.id;
}

function positiveInteger(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive whole number, not "${value}"`);
  return n;
}

// ── groups ──

/** The profile, its cloud client and a group named by the user (as the user, or as the machine on a VM nobody signed in to). */
async function openGroup(nameOrId: string) {
  const profile = await openProfile();
  const cloud = await openCloud(profile);
  const as = (await cloud.hasUserSession()) ? 'user' : 'machine';
  return { profile, cloud, group: await resolveGroup(cloud, nameOrId, as) };
}

const groups = program.command('groups').description('machine groups');

groups
  .command('list')
  .description('the groups you can see')
  .action(async () => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const as = (await cloud.hasUserSession()) ? 'user' : 'machine';
    const list = await cloud.listGroups({}, as);
    const current = profile.settings.get('groupId');
    output.table(
      list,
      [
        { header: 'NAME', value: (g) => `${g.id === current ? '* ' : ''}${g.name}` },
        { header: 'DESCRIPTION', value: (g) => (g.description.length > 40 ? `${g.description.slice(0, 39)}…` : g.description) },
        { header: 'MACHINES', value: (g) => String(g.machineCount) },
        { header: 'RUNNING', value: (g) => String(g.runningCount) },
        { header: 'QUEUED', value: (g) => String(g.queuedCount) },
        { header: 'ACCESS', value: (g) => (g.access === 'CoOwner' ? 'Co-owner' : (g.access ?? '-')) },
        { header: 'OWNER', value: (g) => g.owner.displayName },
        { header: 'ID', value: (g) => g.id },
      ],
      'No machine groups yet. Create one with: machine-runtime groups create --name NAME',
    );
  });

groups
  .command('create')
  .description('create a machine group')
  .requiredOption('--name <name>', 'group name (unique in the environment)')
  .option('--description <text>', 'description')
  .option('--environment <id>', 'environment id (default: your default environment)')
  .action(async (options: { name: string; description?: string; environment?: string }) => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const group = await cloud.createGroup({
      name: options.name,
      ...(options.description !== undefined ? { description: options.description } : {}),
      ...(options.environment !== undefined ? { environmentId: options.environment } : {}),
    });
    output.result(`Created machine group "${group.name}" (${group.id}).`, group);
  });

groups
  .command('join')
  .description('add this machine to a group (group password on stdin; the first machine sets it); moves it from its current group')
  .requiredOption('--group <nameOrId>', 'the group')
  .action(async (options: { group: string }) => {
    const { profile, cloud, group } = await openGroup(options.group);
    const first = !group.hasPassword;
    if (first && secrets.interactive) {
      output.progress('This group has no password yet: the one you choose now protects it. It cannot be recovered if lost.');
    }
    const password = first
      ? await secrets.readNew('New group password: ', 'Repeat the group password: ')
      : await secrets.read('Group password: ');
    const result = await joinGroup(profile, cloud, group, password, membershipProgress);
    const sentences = [
      result.movedFrom
        ? `Moved this machine from "${result.movedFrom.name}" to "${group.name}".`
        : `Added this machine to "${group.name}".`,
    ];
    if (result.setPassword) sentences.push('The group password is set; it cannot be recovered, so keep it safe.');
    if (result.brokenConnections > 0) {
      sentences.push(`${result.brokenConnections} connection(s) that targeted this machine are now broken; point them at the group.`);
    }
    output.result(sentences.join(' '), result);
  });

groups
  .command('leave')
  .description('this machine leaves its group')
  .action(async () => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const groupName = profile.settings.get('groupName');
    const left = await leaveGroup(profile, cloud);
    output.result(`This machine left ${groupName ? `"${groupName}"` : 'its group'}.`, { ...left, groupName: groupName ?? null });
  });

groups
  .command('password')
  .description('on a member machine: change the group password (new password on stdin)')
  .requiredOption('--group <nameOrId>', 'the group')
  .action(async (options: { group: string }) => {
    const { profile, cloud, group } = await openGroup(options.group);
    if (secrets.interactive) output.progress('The new password cannot be recovered if lost.');
    const password = await secrets.readNew('New group password: ', 'Repeat the new group password: ');
    const result = await changeGroupPassword(profile, cloud, group.id, password, membershipProgress);
    output.result(`Changed the password of "${group.name}".`, result);
  });

groups
  .command('share')
  .description('share a group with a person as co-owner or user')
  .requiredOption('--group <nameOrId>', 'the group')
  .requiredOption('--user <email>', 'their email')
  .addOption(new Option('--access <level>', 'access level').choices(['co-owner', 'user']).makeOptionMandatory())
  .action(async (options: { group: string; user: string; access: 'co-owner' | 'user' }) => {
    const { cloud, group } = await openGroup(options.group);
    const user = await findUser(cloud, options.user);
    const entry = await cloud.shareGroup(group.id, user.id, { access: options.access === 'co-owner' ? 'CoOwner' : 'User' });
    output.result(`Shared "${group.name}" with ${user.email} as ${options.access === 'co-owner' ? 'Co-owner' : 'User'}.`, entry);
  });

groups
  .command('unshare')
  .description('remove a person\'s access to a group')
  .requiredOption('--group <nameOrId>', 'the group')
  .requiredOption('--user <email>', 'their email')
  .action(async (options: { group: string; user: string }) => {
    const { cloud, group } = await openGroup(options.group);
    const user = await findUser(cloud, options.user);
    await cloud.unshareGroup(group.id, user.id);
    output.result(`${user.email} no longer has access to "${group.name}".`, { groupId: group.id, userId: user.id });
  });

groups
  .command('delete')
  .description('delete an empty group')
  .requiredOption('--group <nameOrId>', 'the group')
  .action(async (options: { group: string }) => {
    const { cloud, group } = await openGroup(options.group);
    await cloud.deleteGroup(group.id);
    output.result(`Deleted machine group "${group.name}".`, { deleted: group.id });
  });

async function findUser(cloud: CloudClient, email: string): Promise<{ id: string; email: string }> {
  const matches = await cloud.listUsers(email);
  const user = matches.find((u) => u.email.toLowerCase() === email.trim().toLowerCase());
  if (!user) throw new CloudError({ status: 404, code: 'NotFound', detail: `No user with the email ${email}.` });
  return user;
}

// ── connections, desktop flows, runs ──

const connections = program.command('connections').description('the credentials runs use on the machines');

connections
  .command('create')
  .description('create a connection to a group or a machine (the password on stdin; it is sealed to the target\'s key)')
  .requiredOption('--name <name>', 'connection name')
  .option('--group <nameOrId>', 'target machine group')
  .option('--machine <id>', 'target machine (a machine outside any group)')
  .requiredOption('--username <user>', 'the account the flows run as on the machines')
  .action(async (options: { name: string; group?: string; machine?: string; username: string }) => {
    if (Boolean(options.group) === Boolean(options.machine)) throw new UsageError('give exactly one of --group or --machine');
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const target = options.group
      ? { type: 'MachineGroup' as const, id: (await resolveGroup(cloud, options.group)).id }
      : { type: 'Machine' as const, id: options.machine! };
    const password = await secrets.read('Password of that account: ');
    const created = await cloud.createConnection({ name: options.name, target, username: options.username, password });
    output.result(`Created connection "${options.name}" (${created.id}).`, created);
  });

connections
  .command('list')
  .description('your connections')
  .action(async () => {
    const cloud = await openCloud(await openProfile());
    output.table(
      await cloud.listConnections(),
      [
        { header: 'NAME', value: (c) => c.name },
        { header: 'TARGET', value: (c) => `${c.target.type} ${c.target.id}` },
        { header: 'USERNAME', value: (c) => c.username },
        { header: 'STATUS', value: (c) => (c.status === 'Broken' ? `Broken: ${c.brokenReason ?? ''}` : c.status) },
        { header: 'ID', value: (c) => c.id },
      ],
      'No connections yet. Create one with: machine-runtime connections create --name N --group G --username U',
    );
  });

const flows = program.command('flows').description('desktop flows');

flows
  .command('create')
  .description('create a desktop flow from a script file (node or shell)')
  .requiredOption('--name <name>', 'flow name')
  .addOption(new Option('--runtime <runtime>', 'how the script runs').choices(['node', 'shell']).makeOptionMandatory())
  .requiredOption('--file <path>', 'the script')
  .action(async (options: { name: string; runtime: 'node' | 'shell'; file: string }) => {
    const { readFile } = await import('node:fs/promises');
    let script: string;
    try {
      script = await readFile(options.file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${options.file}: ${(error as Error).message}`);
    }
    const cloud = await openCloud(await openProfile());
    const flow = await cloud.createDesktopFlow({ name: options.name, runtime: options.runtime, script });
    output.result(`Created desktop flow "${flow.name}" (${flow.id}).`, flow);
  });

flows
  .command('list')
  .description('the desktop flows of your environments')
  .action(async () => {
    const cloud = await openCloud(await openProfile());
    output.table(
      await cloud.listDesktopFlows(),
      [
        { header: 'NAME', value: (f) => f.name },
        { header: 'RUNTIME', value: (f) => f.runtime },
        { header: 'ID', value: (f) => f.id },
      ],
      'No desktop flows yet. Create one with: machine-runtime flows create --name N --runtime node --file flow.mjs',
    );
  });

async function findByNameOrId<T extends { id: string; name: string }>(items: T[], nameOrId: string, what: string): Promise<T> {
  const wanted = nameOrId.trim().toLowerCase();
  const match = items.find((i) => i.id.toLowerCase() === wanted) ?? items.find((i) => i.name.toLowerCase() === wanted);
  if (!match) throw new CloudError({ status: 404, code: 'NotFound', detail: `No ${what} "${nameOrId}" of yours.` });
  return match;
}

const FINAL_STATES = new Set(['Succeeded', 'Failed', 'Cancelled', 'TimedOut']);

program
  .command('run')
  .description('queue a desktop flow run on a connection\'s group or machine; with --wait, follow it to the end')
  .requiredOption('--flow <nameOrId>', 'the desktop flow')
  .requiredOption('--connection <nameOrId>', 'the connection (and so the group or machine)')
  .addOption(new Option('--mode <mode>', 'run mode').choices(['attended', 'unattended']).default('unattended'))
  .addOption(new Option('--priority <priority>', 'queue priority').choices(['high', 'normal']).default('normal'))
  .option('--inputs <json>', 'inputs as a JSON object (not secrets)')
  .option('--wait', 'follow the run to the end and exit with its result')
  .action(async (options: { flow: string; connection: string; mode: string; priority: string; inputs?: string; wait?: boolean }) => {
    let inputs: Record<string, unknown> | undefined;
    if (options.inputs !== undefined) {
      try {
        inputs = JSON.parse(options.inputs) as Record<string, unknown>;
      } catch {
        throw new UsageError('--inputs must be a JSON object, e.g. \'{"count": 3}\'');
      }
      if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) throw new UsageError('--inputs must be a JSON object');
    }
    const cloud = await openCloud(await openProfile());
    const flow = await findByNameOrId(await cloud.listDesktopFlows(), options.flow, 'desktop flow');
    const connection = await findByNameOrId(await cloud.listConnections(), options.connection, 'connection');
    const queued = await cloud.queueRun({
      desktopFlowId: flow.id,
      connectionId: connection.id,
      runMode: options.mode === 'attended' ? 'Attended' : 'Unattended',
      priority: options.priority === 'high' ? 'High' : 'Normal',
      ...(inputs ? { inputs } : {}),
    });
    if (!options.wait) {
      output.result(`Queued run ${queued.id} of "${flow.name}" on "${connection.name}".`, queued);
      return;
    }
    output.progress(`Queued run ${queued.id} of "${flow.name}"; following it (Ctrl-C stops following, not the run).`);
    let after = 0;
    let lastNote = '';
    for (;;) {
      const run = await cloud.getRun(queued.id);
      const logs = await cloud.runLogs(queued.id, after > 0 ? { after } : {});
      for (const line of logs.lines) {
        output.progress(`  ${line.stream === 'stderr' ? '!' : '|'} ${line.line}`);
        after = Math.max(after, line.seq);
      }
      const note = run.status === 'Queued' ? `waiting: ${run.waitingDetail ?? run.waitingReason ?? 'in the queue'}` : run.status;
      if (note !== lastNote && !FINAL_STATES.has(run.status)) output.progress(`run: ${note}`);
      lastNote = note;
      if (FINAL_STATES.has(run.status)) {
        const sentence =
          run.status === 'Succeeded'
            ? `Run ${run.id} succeeded${run.outputs !== null && run.outputs !== undefined ? `: ${JSON.stringify(run.outputs)}` : '.'}`
            : `Run ${run.id} ended ${run.status}${run.error ? `: ${run.error.message} (${run.error.code})` : '.'}`;
        output.result(sentence, run);
        process.exitCode = run.status === 'Succeeded' ? EXIT.ok : EXIT.error;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  });

// ── runs: the queue, for scripts and for people without the app ──

const runs = program.command('runs').description('runs: list a queue, follow one, reorder or cancel it');

/** A run id from the command line: a UUID, or a clear usage error before any request. */
function runId(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value.trim())) {
    throw new UsageError(`"${value}" is not a run id (ids look like 4359c0de-…; list them with: machine-runtime runs list)`);
  }
  return value.trim();
}

function runStateNote(run: Run): string {
  if (run.status === 'Queued') return `#${run.queuePosition ?? '?'} ${run.waitingReason ?? ''}`.trim();
  if (run.error) return `${run.error.code}`;
  return run.cancelRequestedAt && !FINAL_STATES.has(run.status) ? 'cancel requested' : '';
}

runs
  .command('list')
  .description("a group's queue and recent runs (--group), a machine's (--machine), or yours; queued runs first, in the order they start")
  .option('--group <nameOrId>', 'the machine group')
  .option('--machine <id>', 'a machine id')
  .addOption(new Option('--status <status>', 'only runs in this state').choices(['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'timedout']))
  .option('--limit <n>', 'at most this many runs (default 100)')
  .action(async (options: { group?: string; machine?: string; status?: string; limit?: string }) => {
    if (options.group && options.machine) throw new UsageError('give --group or --machine, not both');
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const groupId = options.group ? (await resolveGroup(cloud, options.group, 'user')).id : undefined;
    const status = options.status ? RUN_STATUSES.find((s) => s.toLowerCase() === options.status) : undefined;
    const list = await cloud.listRuns({
      ...(groupId ? { groupId } : {}),
      ...(options.machine ? { machineId: options.machine } : {}),
      ...(status ? { status } : {}),
      ...(options.limit ? { limit: positiveInteger(options.limit, '--limit') } : {}),
    });
    // Queued runs in dispatch order (1 = next to run), then the others newest first, as the cloud lists them.
    const queued = list.filter((r) => r.status === 'Queued').sort((a, b) => (a.queuePosition ?? 0) - (b.queuePosition ?? 0));
    const flows = new Map((await cloud.listDesktopFlows()).map((f) => [f.id, f.name]));
    output.table(
      [...queued, ...list.filter((r) => r.status !== 'Queued')],
      [
        { header: 'STATUS', value: (r) => r.status },
        { header: 'NOTE', value: runStateNote },
        { header: 'PRIORITY', value: (r) => (r.movedToTopAt && r.status === 'Queued' ? `${r.priority} (top)` : r.priority) },
        { header: 'FLOW', value: (r) => flows.get(r.desktopFlowId) ?? r.desktopFlowId },
        { header: 'MODE', value: (r) => r.runMode },
        { header: 'MACHINE', value: (r) => r.machineId ?? '-' },
        { header: 'QUEUED', value: (r) => isoOrDash(r.queuedAt) },
        { header: 'ID', value: (r) => r.id },
      ],
      'No runs here. Queue one with: machine-runtime run --flow F --connection C',
    );
  });

/** One line per queue event, for people. */
function describeEvent(event: RunEvent): string {
  const machine = event.machine ? (event.machine.name ?? `machine ${event.machine.id}`) : 'a machine';
  const by = event.actor ? ` by ${event.actor.displayName ?? event.actor.id}` : '';
  const why = `${event.code ?? ''}${event.message ? `: ${event.message}` : ''}`;
  switch (event.kind) {
    case 'Queued':
      return `queued${by} (${event.priority ?? 'Normal'})`;
    case 'Assigned':
      return `starting on ${machine} (attempt ${event.attempt ?? '?'})`;
    case 'Refused':
      return `${machine} refused it: ${why}`;
    case 'Requeued':
      return `back in the queue from ${machine}: ${why}`;
    case 'Started':
      return `started on ${machine}`;
    case 'PriorityChanged':
      return `priority changed to ${event.priority ?? '?'}${by}`;
    case 'MovedToTop':
      return `moved to the top of the queue${by}`;
    case 'CancelRequested':
      return `cancel requested${by}`;
    case 'Finished':
      return `finished: ${event.status ?? '?'}${why ? ` (${why})` : ''}`;
  }
}

runs
  .command('show')
  .description("a run's state and its queue events (queued, starting on a machine, refused, priority changed, moved to top, finished)")
  .argument('<runId>', 'the run')
  .action(async (id: string) => {
    const cloud = await openCloud(await openProfile());
    const run = await cloud.getRun(runId(id));
    const { events } = await cloud.runEvents(run.id);
    if (output.json) {
      output.result('', { run, events });
      return;
    }
    const waiting = run.status === 'Queued' ? ` — #${run.queuePosition ?? '?'} in the queue; ${run.waitingDetail ?? run.waitingReason ?? ''}` : '';
    output.result(
      [
        `Run ${run.id}: ${run.status}${run.error ? ` (${run.error.code}: ${run.error.message})` : ''}${waiting}`,
        ...events.map((e) => `  ${isoOrDash(e.at)}  ${describeEvent(e)}`),
      ].join('\n'),
      null,
    );
  });

runs
  .command('logs')
  .description("a run's log lines, oldest first")
  .argument('<runId>', 'the run')
  .action(async (id: string) => {
    const cloud = await openCloud(await openProfile());
    const logs = await cloud.runLogs(runId(id));
    if (output.json) {
      output.result('', logs);
      return;
    }
    const lines = logs.lines.map((l) => `${l.stream === 'stderr' ? '!' : l.stream === 'system' ? '#' : '|'} ${l.line}`);
    if (logs.truncated) lines.push('# (the run wrote more lines than the cloud keeps)');
    output.result(lines.length > 0 ? lines.join('\n') : 'No log lines (yet).', logs);
  });

runs
  .command('priority')
  .description("change a queued run's priority (whoever queued it, or a co-owner)")
  .argument('<runId>', 'the run')
  .addArgument(new Argument('<priority>', 'the new priority').choices(['high', 'normal']))
  .action(async (id: string, priority: 'high' | 'normal') => {
    const cloud = await openCloud(await openProfile());
    const run = await cloud.changeRunPriority(runId(id), priority === 'high' ? 'High' : 'Normal');
    output.result(`Run ${run.id} is now ${run.priority}, #${run.queuePosition ?? '?'} in the queue.`, run);
  });

runs
  .command('move-to-top')
  .description('put a queued run ahead of every other queued run (co-owners, owners, admins)')
  .argument('<runId>', 'the run')
  .action(async (id: string) => {
    const cloud = await openCloud(await openProfile());
    const run = await cloud.moveRunToTop(runId(id));
    output.result(`Run ${run.id} is next to run (#${run.queuePosition ?? 1} in the queue).`, run);
  });

runs
  .command('cancel')
  .description('cancel a run: a queued one ends at once, a running one is stopped on its machine')
  .argument('<runId>', 'the run')
  .action(async (id: string) => {
    const cloud = await openCloud(await openProfile());
    const run = await cloud.cancelRun(runId(id));
    output.result(
      FINAL_STATES.has(run.status) ? `Run ${run.id} is ${run.status}.` : `Run ${run.id}: cancel requested; its machine is stopping it.`,
      run,
    );
  });

// ── agent ──

program
  .command('agent')
  .description('run this machine\'s agent in the foreground until SIGINT/SIGTERM')
  .action(async () => {
    const profile = await openProfile();
    const cloud = await openCloud(profile);
    const agent = await createMachineAgent(profile, cloud);
    let lastLine = '';
    agent.on('state', (state) => {
      const line =
        state.status === 'online'
          ? `agent: online (${cloud.serverUrl})`
          : state.status === 'waiting'
            ? `agent: disconnected (${state.reason}); retrying`
            : state.status === 'refused'
              ? `agent: refused by the cloud: ${state.message} (${state.code})`
              : state.status === 'connecting'
                ? `agent: connecting to ${cloud.serverUrl}…`
                : 'agent: stopped';
      if (line !== lastLine) output.progress(line);
      lastLine = line;
    });
    const stopped = new Promise<number>((resolve) => {
      const stop = (signal: string) => {
        output.progress(`agent: ${signal}, closing the connection`);
        void agent.stop().then(() => resolve(EXIT.ok));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      agent.on('state', (state) => {
        if (state.status === 'refused') resolve(exitCodeFor(state.code));
      });
    });
    agent.executor.on('event', (event) => {
      if (event.type === 'started') output.progress(`agent: run ${event.runId} started (pid ${event.pid})`);
      else if (event.type === 'finished') output.progress(`agent: run ${event.runId} finished: ${event.status}`);
      else if (event.type === 'rejected') output.progress(`agent: run ${event.runId} refused here (${event.code})`);
    });
    agent.start();
    process.exitCode = await stopped;
  });

// ── errors ──

function describe(error: unknown): { message: string; code: string } {
  if (error instanceof CloudError) return { message: error.detail || error.message, code: error.code };
  if (error instanceof GroupCryptoError) {
    return {
      message: error.code === 'IncorrectGroupPassword' ? 'The group password is incorrect.' : error.message,
      code: error.code,
    };
  }
  if (error instanceof SecretStoreError) return { message: error.message, code: error.code };
  if (error instanceof UsageError) return { message: error.message, code: 'Usage' };
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') {
    return { message: error.message, code: (error as unknown as { code: string }).code };
  }
  return { message: error instanceof Error ? error.message : String(error), code: 'Error' };
}

async function main(argv: string[]): Promise<number> {
  const userArgs = argv.slice(2);
  const json = userArgs.includes('--json');
  output = createOutput(json);
  const secretArg = secretOnCommandLine(userArgs);
  if (secretArg) {
    output.error(
      `Secrets are never taken from the command line (${secretArg}); pass them on standard input or at the prompt.`,
      'SecretOnCommandLine',
    );
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, successfully.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { message, code } = describe(error);
    output.error(message, code);
    return code === 'AlreadyRegistered' ? EXIT.conflict : exitCodeFor(code);
  }
}

process.exitCode = await main(process.argv);
