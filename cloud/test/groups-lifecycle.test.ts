/**
 * Machine groups end to end through the machine-side helper (real client crypto, real routes):
 * create, first join sets the password, wrong password, forged proof, password edit, move,
 * leave, remove, delete rules, the 50-machine limit under 60 racing joins, NameTaken, broken
 * connections, and a search of every stored byte for the group passwords.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import {
  changeGroupPassword,
  ChallengeRefused,
  fetchKeyBundle,
  httpSender,
  injectSender,
  joinGroup,
  joinWithKeys,
  leaveGroup,
  registerMachine,
  requestChallenge,
  sendJoin,
  signedJoin,
  type Send,
  type TestMachine,
} from './group-client.ts';
import { createGroupKeys, unwrapGroupKeys, type GroupKeys } from '../../electron/runtime/group-crypto.ts';

const PASSWORD_1 = 'Tr0ub4dor&3-first';
const PASSWORD_2 = 'correct horse battery staple';
const PASSWORD_B = 'another-group-secret';
const WRONG_PASSWORD = 'not-the-password';

describe(`machine group lifecycle (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let send: Send;
  let environmentId: string;
  let owner: FixtureUser;
  let coOwner: FixtureUser;
  let runner: FixtureUser;
  let stranger: FixtureUser;

  beforeAll(async () => {
    cloud = await buildCloud({
      rateLimits: { groupPerHour: 100_000, userPerMinute: 100_000, signInPerAccount: 10, signInPerAddress: 50 },
    });
    send = injectSender(cloud.app);
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    coOwner = await createUser(cloud.db, environmentId, 'Cora CoOwner', ['MachineOwner']);
    runner = await createUser(cloud.db, environmentId, 'Uma User', ['MachineUser']);
    stranger = await createUser(cloud.db, environmentId, 'Sam Stranger', ['MachineOwner']);
  });
  afterAll(async () => cloud?.close());

  async function createGroup(token: string, name: string, description?: string) {
    const reply = await send('POST', '/api/v1/machine-groups', { token, body: { name, ...(description ? { description } : {}) } });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; name: string };
  }

  async function groupFromList(token: string, groupId: string) {
    const reply = await send('GET', '/api/v1/machine-groups', { token });
    expect(reply.status).toBe(200);
    return (reply.body as { id: string; machineCount: number; hasPassword: boolean }[]).find((g) => g.id === groupId);
  }

  async function share(groupId: string, user: FixtureUser, access: 'CoOwner' | 'User') {
    const reply = await send('PUT', `/api/v1/machine-groups/${groupId}/access/${user.id}`, { token: owner.token, body: { access } });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  }

  const passwordsUsed: string[] = [];

  it('creates, joins with the password, edits it, moves, leaves, removes and deletes', async () => {
    const created = await send('POST', '/api/v1/machine-groups', {
      token: owner.token,
      body: { name: 'Build agents', description: 'Nightly build VMs' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Build agents',
      description: 'Nightly build VMs',
      machineCount: 0,
      runningCount: 0,
      queuedCount: 0,
      access: 'Owner',
      owner: { id: owner.id, displayName: 'Olivia Owner' },
      hasPassword: false,
      environmentId,
    });
    expect(created.body.allowedActions).toEqual(['run', 'share', 'addMachines', 'removeMachines', 'editDetails', 'delete']);
    const groupA = created.body.id as string;
    await share(groupA, coOwner, 'CoOwner');
    await share(groupA, runner, 'User');

    const m1 = await registerMachine(send, cloud.db, owner.token, 'vm-1');
    const m2 = await registerMachine(send, cloud.db, owner.token, 'vm-2');
    const m3 = await registerMachine(send, cloud.db, coOwner.token, 'vm-3');

    // The first machine sets the password.
    passwordsUsed.push(PASSWORD_1);
    const first = await joinGroup(send, m1, groupA, PASSWORD_1);
    expect(first.reply.status, JSON.stringify(first.reply.body)).toBe(201);
    expect(first.reply.body).toMatchObject({ groupId: groupA, machineId: m1.id, movedFrom: null, setPassword: true, keyVersion: 1 });
    expect(await groupFromList(owner.token, groupA)).toMatchObject({ machineCount: 1, hasPassword: true });

    // A wrong password fails on the machine (the GCM check), before anything reaches the server.
    await expect(joinGroup(send, m2, groupA, WRONG_PASSWORD)).rejects.toMatchObject({ code: 'IncorrectGroupPassword' });

    // A proof signed with any other key is refused by the server, and uses up its challenge.
    const forged = await signedJoin(send, m2, groupA, createGroupKeys());
    const refused = await sendJoin(send, m2, groupA, forged);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'IncorrectGroupPassword' });
    const replayed = await sendJoin(send, m2, groupA, forged);
    expect(replayed.status).toBe(409);
    expect(replayed.body).toMatchObject({ code: 'ChallengeExpired' });

    // The right password joins.
    const second = await joinGroup(send, m2, groupA, PASSWORD_1);
    expect(second.reply.status, JSON.stringify(second.reply.body)).toBe(201);
    expect(second.reply.body).toMatchObject({ setPassword: false, movedFrom: null });
    const keys = second.keys!;
    expect(keys.signing.publicKey).toBe(first.keys!.signing.publicKey);
    expect(await groupFromList(owner.token, groupA)).toMatchObject({ machineCount: 2 });
    expect(await groupFromList(runner.token, groupA)).toMatchObject({ machineCount: 2, access: 'User', allowedActions: ['run'] });
    const machinesOfA = await send('GET', `/api/v1/machine-groups/${groupA}/machines`, { token: runner.token });
    expect(machinesOfA.body.map((m: { id: string }) => m.id).sort()).toEqual([m1.id, m2.id].sort());

    // Already a member: refused (at the challenge already).
    await expect(signedJoin(send, m2, groupA, keys)).rejects.toMatchObject({ reply: { status: 409, body: { code: 'AlreadyInGroup' } } });

    // Who may fetch the bundle: co-owners (and the owner), not users, not strangers.
    expect((await fetchKeyBundle(send, coOwner.token, groupA)).status).toBe(200);
    expect((await fetchKeyBundle(send, runner.token, groupA)).status).toBe(403);
    expect((await fetchKeyBundle(send, stranger.token, groupA)).status).toBe(404);

    // Password edit on a member machine: same keys, new wrapping; the old password stops working.
    passwordsUsed.push(PASSWORD_2);
    const changed = await changeGroupPassword(send, m1, groupA, first.keys!, PASSWORD_2);
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({ groupId: groupA, keyVersion: 2 });
    const bundle = (await fetchKeyBundle(send, owner.token, groupA)).body;
    expect(bundle).toMatchObject({ hasPassword: true, keyVersion: 2, signingPublicKey: keys.signing.publicKey });
    await expect(unwrapGroupKeys(bundle.keyBundle!, PASSWORD_1, groupA)).rejects.toMatchObject({ code: 'IncorrectGroupPassword' });
    await expect(joinGroup(send, m3, groupA, PASSWORD_1)).rejects.toMatchObject({ code: 'IncorrectGroupPassword' });
    const third = await joinGroup(send, m3, groupA, PASSWORD_2);
    expect(third.reply.status, JSON.stringify(third.reply.body)).toBe(201);
    expect(third.keys).toEqual(keys);
    expect(await groupFromList(owner.token, groupA)).toMatchObject({ machineCount: 3 });

    // A machine outside the group cannot change the password.
    const outsider = await registerMachine(send, cloud.db, owner.token, 'vm-outside');
    await expect(requestChallenge(send, outsider, groupA, 'password')).rejects.toBeInstanceOf(ChallengeRefused);
    await expect(requestChallenge(send, outsider, groupA, 'password')).rejects.toMatchObject({
      reply: { status: 409, body: { code: 'NotInGroup' } },
    });

    // Move: m3 (in A) joins B; A's count drops.
    const groupB = (await createGroup(owner.token, 'Test agents')).id;
    await share(groupB, coOwner, 'CoOwner');
    passwordsUsed.push(PASSWORD_B);
    const moved = await joinGroup(send, m3, groupB, PASSWORD_B);
    expect(moved.reply.status, JSON.stringify(moved.reply.body)).toBe(201);
    expect(moved.reply.body).toMatchObject({ movedFrom: { id: groupA, name: 'Build agents' }, setPassword: true });
    expect(await groupFromList(owner.token, groupA)).toMatchObject({ machineCount: 2 });
    expect(await groupFromList(owner.token, groupB)).toMatchObject({ machineCount: 1 });
    const m3Now = await send('GET', `/api/v1/machines/${m3.id}`, { token: m3.token });
    expect(m3Now.body).toMatchObject({ id: m3.id, groupId: groupB });

    // Leave: the machine takes itself out; leaving twice says so.
    expect((await leaveGroup(send, m2, groupA)).status).toBe(204);
    expect(await groupFromList(owner.token, groupA)).toMatchObject({ machineCount: 1 });
    const again = await leaveGroup(send, m2, groupA);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'NotInGroup' });

    // Remove: a User may not, a co-owner may; a machine token cannot remove another machine.
    const byUser = await send('DELETE', `/api/v1/machine-groups/${groupA}/machines/${m1.id}`, { token: runner.token });
    expect(byUser.status).toBe(403);
    const byOtherMachine = await send('DELETE', `/api/v1/machine-groups/${groupA}/machines/${m1.id}`, { token: m2.token });
    expect(byOtherMachine.status).toBe(403);
    const byCoOwner = await send('DELETE', `/api/v1/machine-groups/${groupA}/machines/${m1.id}`, { token: coOwner.token });
    expect(byCoOwner.status).toBe(204);
    expect(await groupFromList(owner.token, groupA)).toMatchObject({ machineCount: 0 });

    // Delete rules: not while it has machines; then yes.
    const notEmpty = await send('DELETE', `/api/v1/machine-groups/${groupB}`, { token: owner.token });
    expect(notEmpty.status).toBe(409);
    expect(notEmpty.body).toMatchObject({ code: 'GroupNotEmpty' });
    expect((await leaveGroup(send, m3, groupB)).status).toBe(204);
    expect((await send('DELETE', `/api/v1/machine-groups/${groupB}`, { token: coOwner.token })).status).toBe(204);
    expect((await send('GET', `/api/v1/machine-groups/${groupB}`, { token: owner.token })).status).toBe(404);
    expect((await send('DELETE', `/api/v1/machine-groups/${groupA}`, { token: owner.token })).status).toBe(204);

    // Every change left an audit record.
    const actions = (await cloud.db.query<{ action: string }>('SELECT action FROM audit_events')).map((row) => row.action);
    for (const action of [
      'group.created',
      'group.shared',
      'machine.registered',
      'group.machineJoined',
      'group.passwordChanged',
      'group.machineMoved',
      'group.machineLeft',
      'group.machineRemoved',
      'group.deleted',
    ]) {
      expect(actions).toContain(action);
    }
  });

  it('never stores a group password or a cheap derivative of it', async () => {
    expect(passwordsUsed.length).toBe(3);
    const tables = await cloud.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['machine_groups', 'audit_events', 'join_challenges']));
    let dump = '';
    for (const { table_name } of tables) {
      const rows = await cloud.db.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${table_name}" t`);
      dump += rows.map((r) => r.row).join('\n');
    }
    expect(dump.length).toBeGreaterThan(1000);
    const haystack = dump.toLowerCase();
    for (const password of passwordsUsed) {
      const bytes = Buffer.from(password, 'utf8');
      const forms = [
        password,
        bytes.toString('base64'),
        bytes.toString('base64url'),
        bytes.toString('hex'),
        Buffer.from(password, 'utf16le').toString('hex'),
        ...['sha256', 'sha1', 'md5', 'sha512'].flatMap((algorithm) => {
          const digest = createHash(algorithm).update(bytes).digest();
          return [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')];
        }),
      ];
      for (const form of forms) expect(haystack.includes(form.toLowerCase()), `a form of a group password is stored: ${form}`).toBe(false);
    }
  });

  it('breaks the connections that targeted a machine when it joins a group', async () => {
    const group = (await createGroup(owner.token, 'Finance robots')).id;
    const m = await registerMachine(send, cloud.db, owner.token, 'vm-finance');
    const other = await registerMachine(send, cloud.db, owner.token, 'vm-elsewhere');
    const insert = (targetType: string, targetId: string, name: string) =>
      cloud.db.query<{ id: string }>(
        `INSERT INTO connections (environment_id, owner_id, name, target_type, target_id, username, sealed_password)
         VALUES ($1, $2, $3, $4, $5, 'robot', 'sealed') RETURNING id`,
        [environmentId, owner.id, name, targetType, targetId],
      );
    const [toMachine] = await insert('Machine', m.id, 'to the machine');
    const [toOther] = await insert('Machine', other.id, 'to another machine');
    const [toGroup] = await insert('MachineGroup', group, 'to the group');

    const joined = await joinGroup(send, m, group, 'finance-password');
    expect(joined.reply.status, JSON.stringify(joined.reply.body)).toBe(201);
    expect(joined.reply.body.brokenConnections).toBe(1);
    const rows = await cloud.db.query<{ id: string; status: string; broken_reason: string | null }>(
      'SELECT id, status, broken_reason FROM connections WHERE id = ANY($1::uuid[])',
      [[toMachine!.id, toOther!.id, toGroup!.id]],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(toMachine!.id)).toMatchObject({ status: 'Broken' });
    expect(byId.get(toMachine!.id)!.broken_reason).toContain('Finance robots');
    expect(byId.get(toOther!.id)).toMatchObject({ status: 'Connected' });
    expect(byId.get(toGroup!.id)).toMatchObject({ status: 'Connected' });
  });

  it('keeps group names unique per environment, ignoring case (NameTaken), also on rename', async () => {
    await createGroup(owner.token, 'Nightly');
    const clash = await send('POST', '/api/v1/machine-groups', { token: coOwner.token, body: { name: 'NIGHTLY' } });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ code: 'NameTaken' });
    expect(clash.headers['content-type']).toMatch(/application\/problem\+json/);
    const other = await createGroup(owner.token, 'Weekly');
    const rename = await send('PATCH', `/api/v1/machine-groups/${other.id}`, { token: owner.token, body: { name: 'nightly' } });
    expect(rename.status).toBe(409);
    expect(rename.body).toMatchObject({ code: 'NameTaken' });
    const renamed = await send('PATCH', `/api/v1/machine-groups/${other.id}`, { token: owner.token, body: { name: 'Weekly (EU)' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Weekly (EU)' });

    // Another environment may use the name.
    const [env2] = await cloud.db.query<{ id: string }>(`INSERT INTO environments (name) VALUES ('Second') RETURNING id`);
    await cloud.db.query(`INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, 'MachineOwner')`, [env2!.id, owner.id]);
    const elsewhere = await send('POST', '/api/v1/machine-groups', { token: owner.token, body: { name: 'nightly', environmentId: env2!.id } });
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body).toMatchObject({ environmentId: env2!.id });
  });

  it('lets only one of two racing first joins set the password (the other is told to fetch the bundle)', async () => {
    const group = (await createGroup(owner.token, 'Raced first join')).id;
    const a = await registerMachine(send, cloud.db, owner.token, 'first-a');
    const b = await registerMachine(send, cloud.db, owner.token, 'first-b');
    const [ra, rb] = await Promise.all([joinGroup(send, a, group, 'password-of-a'), joinGroup(send, b, group, 'password-of-b')]);
    const statuses = [ra.reply, rb.reply].map((r) => (r.status === 201 ? 'joined' : `${r.status} ${r.body?.code}`)).sort();
    expect(statuses).toEqual(['409 GroupHasPassword', 'joined']);
    const winner = ra.reply.status === 201 ? ra : rb;
    const bundle = (await fetchKeyBundle(send, owner.token, group)).body;
    expect(bundle.signingPublicKey).toBe(winner.keys!.signing.publicKey);
    const loser = ra.reply.status === 201 ? b : a;
    const winnerPassword = ra.reply.status === 201 ? 'password-of-a' : 'password-of-b';
    expect((await joinGroup(send, loser, group, winnerPassword)).reply.status).toBe(201);
  });

  it('admits exactly 50 of 60 machines joining at the same time (GroupFull for the rest)', async () => {
    const group = (await createGroup(owner.token, 'Big farm')).id;
    // The first machine sets the password and leaves: the group has keys and no machine.
    const founder = await registerMachine(send, cloud.db, owner.token, 'farm-founder');
    const founded = await joinGroup(send, founder, group, 'farm-password');
    expect(founded.reply.status).toBe(201);
    expect((await leaveGroup(send, founder, group)).status).toBe(204);
    const keys: GroupKeys = founded.keys!;

    // 10 of the racers start in another group (they move).
    const previous = (await createGroup(owner.token, 'Old farm')).id;
    const racers: TestMachine[] = [];
    for (let i = 0; i < 60; i++) racers.push(await registerMachine(send, cloud.db, owner.token, `farm-${i}`));
    const oldPassword = await joinGroup(send, racers[0]!, previous, 'old-farm-password');
    for (const racer of racers.slice(1, 10)) expect((await joinWithKeys(send, racer, previous, oldPassword.keys!)).reply.status).toBe(201);

    const bodies: { nonce: string; signature: string }[] = [];
    for (const racer of racers) bodies.push(await signedJoin(send, racer, group, keys));

    await cloud.app.listen({ port: 0, host: '127.0.0.1' });
    const address = cloud.app.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    const http = httpSender(`http://127.0.0.1:${address.port}`);
    const replies = await Promise.all(racers.map((racer, i) => sendJoin(http, racer, group, bodies[i])));

    const statuses = replies.map((r) => (r.status === 201 ? 'joined' : `${r.status} ${r.body?.code}`));
    expect(statuses.filter((s) => s === 'joined').length).toBe(50);
    expect(statuses.filter((s) => s === '409 GroupFull').length).toBe(10);
    const [count] = await cloud.db.query<{ n: number }>('SELECT count(*)::int AS n FROM machines WHERE group_id = $1', [group]);
    expect(count!.n).toBe(50);
    expect(await groupFromList(owner.token, group)).toMatchObject({ machineCount: 50 });
    // The machines that moved are in exactly one group: the new one, or still the old one if refused.
    const [stillOld] = await cloud.db.query<{ n: number }>('SELECT count(*)::int AS n FROM machines WHERE group_id = $1', [previous]);
    const movedOk = replies.slice(0, 10).filter((r) => r.status === 201).length;
    expect(stillOld!.n).toBe(10 - movedOk);
  });
});
