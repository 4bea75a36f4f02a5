import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine, shareGroup } from './runs-fixtures.ts';
import { keyPairFromBase64, openSealed } from '../../electron/runtime/sealed-box.ts';

const PASSWORD = 'S3cret-Passw0rd-of-the-service-account';

describe(`connections (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let environmentId: string;
  let owner: FixtureUser;
  let runner: FixtureUser;
  let stranger: FixtureUser;
  let noRole: FixtureUser;
  let group: Awaited<ReturnType<typeof createKeyedGroup>>;

  beforeAll(async () => {
    cloud = await buildCloud();
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Olga Owner', ['MachineOwner']);
    runner = await createUser(cloud.db, environmentId, 'Rui Runner', ['MachineUser']);
    stranger = await createUser(cloud.db, environmentId, 'Sam Stranger', ['MachineOwner']);
    noRole = await createUser(cloud.db, environmentId, 'Nadia NoRole', []);
    group = await createKeyedGroup(cloud.db, environmentId, owner.id, 'Finance robots');
    await shareGroup(cloud.db, group.id, runner.id, 'User');
    await shareGroup(cloud.db, group.id, noRole.id, 'User');
  });
  afterAll(async () => cloud?.close());

  const create = (token: string, target: { type: string; id: string }, extra: Record<string, unknown> = {}) =>
    call(cloud.app, 'POST', '/api/v1/connections', {
      token,
      body: { name: 'svc account', target, username: 'CORP\\svc-robot', password: PASSWORD, ...extra },
    });

  it('seals the password to the group key: only ciphertext is stored, a group member can open it, the list never shows it', async () => {
    const created = await create(runner.token, { type: 'MachineGroup', id: group.id });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ id: expect.any(String), status: 'Connected' });

    const [row] = await cloud.db.query<{ sealed_password: string }>('SELECT sealed_password FROM connections WHERE id = $1', [created.json().id]);
    expect(row!.sealed_password).not.toContain(PASSWORD);
    expect(Buffer.from(row!.sealed_password, 'base64').toString('latin1')).not.toContain(PASSWORD);
    const groupKeys = keyPairFromBase64(group.keys.encryption.publicKey, group.keys.encryption.privateKey);
    expect(await openSealed(row!.sealed_password, groupKeys)).toBe(PASSWORD);

    // A machine outside the group (its own key) cannot open it.
    const outsider = await createKeyedMachine(cloud.db, environmentId, stranger.id);
    await expect(openSealed(row!.sealed_password, keyPairFromBase64(outsider.encryption.publicKey, outsider.encryption.privateKey))).rejects.toThrow(
      'cannot open',
    );

    const list = await call(cloud.app, 'GET', '/api/v1/connections', { token: runner.token });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual([
      expect.objectContaining({ id: created.json().id, name: 'svc account', target: { type: 'MachineGroup', id: group.id }, username: 'CORP\\svc-robot', status: 'Connected' }),
    ]);
    expect(list.body).not.toContain(PASSWORD);
    expect(list.body).not.toContain(row!.sealed_password);
    // Connections are personal: the group owner does not see the runner's.
    expect((await call(cloud.app, 'GET', '/api/v1/connections', { token: owner.token })).json()).toEqual([]);
    // Nothing secret in the audit trail either.
    const audit = await cloud.db.query('SELECT detail::text AS detail FROM audit_events WHERE action = $1', ['connection.created']);
    expect(JSON.stringify(audit)).not.toContain(PASSWORD);
  });

  it('refuses a group without a key yet, hides groups from strangers, forbids people without the run privilege', async () => {
    const [bare] = await cloud.db.query<{ id: string }>(
      `INSERT INTO machine_groups (environment_id, owner_id, name) VALUES ($1, $2, 'Empty group') RETURNING id`,
      [environmentId, owner.id],
    );
    const noKey = await create(owner.token, { type: 'MachineGroup', id: bare!.id });
    expect(noKey.statusCode).toBe(409);
    expect(noKey.json()).toMatchObject({ code: 'GroupHasNoPassword', detail: expect.stringContaining('add a machine to the group first') });

    expect((await create(stranger.token, { type: 'MachineGroup', id: group.id })).json().code).toBe('NotFound');
    expect((await create(noRole.token, { type: 'MachineGroup', id: group.id })).statusCode).toBe(403);
    expect((await create(owner.token, { type: 'MachineGroup', id: '00000000-0000-4000-8000-000000000000' })).statusCode).toBe(404);
    expect((await create(owner.token, { type: 'MachineGroup', id: group.id }, { extra: 1 })).json().code).toBe('ValidationFailed');
    expect((await create(owner.token, { type: 'Cluster', id: group.id })).json().code).toBe('ValidationFailed');
    const machine = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    expect((await create(machine.token, { type: 'MachineGroup', id: group.id })).statusCode).toBe(403);
    expect((await call(cloud.app, 'GET', '/api/v1/connections')).statusCode).toBe(401);
  });

  it("targets a single machine: its owner may, others who see it through the group may not; sealed to the machine's own key", async () => {
    const machine = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    expect((await create(runner.token, { type: 'Machine', id: machine.id })).statusCode).toBe(403);
    expect((await create(stranger.token, { type: 'Machine', id: machine.id })).statusCode).toBe(404);
    const created = await create(owner.token, { type: 'Machine', id: machine.id });
    expect(created.statusCode).toBe(201);
    const [row] = await cloud.db.query<{ sealed_password: string }>('SELECT sealed_password FROM connections WHERE id = $1', [created.json().id]);
    expect(await openSealed(row!.sealed_password, keyPairFromBase64(machine.encryption.publicKey, machine.encryption.privateKey))).toBe(PASSWORD);
  });

  it("breaks when the group's key is replaced or the target is deleted, with a reason", async () => {
    const other = await createKeyedGroup(cloud.db, environmentId, owner.id, 'Rekeyed group');
    const toGroup = (await create(owner.token, { type: 'MachineGroup', id: other.id })).json().id as string;
    const machine = await createKeyedMachine(cloud.db, environmentId, owner.id);
    const toMachine = (await create(owner.token, { type: 'Machine', id: machine.id })).json().id as string;

    const { createGroupKeys } = await import('../../electron/runtime/group-crypto.ts');
    await cloud.db.query('UPDATE machine_groups SET encryption_public_key = $2 WHERE id = $1', [other.id, createGroupKeys().encryption.publicKey]);
    await cloud.db.query('DELETE FROM machines WHERE id = $1', [machine.id]);

    const list = (await call(cloud.app, 'GET', '/api/v1/connections', { token: owner.token })).json() as { id: string; status: string; brokenReason?: string }[];
    expect(list.find((c) => c.id === toGroup)).toMatchObject({ status: 'Broken', brokenReason: expect.stringContaining('key was replaced') });
    expect(list.find((c) => c.id === toMachine)).toMatchObject({ status: 'Broken', brokenReason: 'The machine was deleted.' });
    // Other connections are untouched.
    expect(list.filter((c) => c.status === 'Connected').length).toBeGreaterThan(0);
  });
});

describe(`desktop flows (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let maker: FixtureUser;
  let outsider: FixtureUser;

  beforeAll(async () => {
    cloud = await buildCloud();
    const environmentId = await createEnvironment(cloud.db);
    maker = await createUser(cloud.db, environmentId, 'Mia Maker', ['EnvironmentMaker']);
    outsider = await createUser(cloud.db, await createEnvironment(cloud.db, 'Other', false), 'Otto Outsider', ['MachineOwner']);
  });
  afterAll(async () => cloud?.close());

  it('creates node and shell flows per environment, refuses duplicate names and bad runtimes', async () => {
    const created = await call(cloud.app, 'POST', '/api/v1/desktop-flows', {
      token: maker.token,
      body: { name: 'Invoice export', runtime: 'node', script: 'console.log(JSON.stringify({ ok: true }))' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: expect.any(String), name: 'Invoice export', runtime: 'node', owner: { id: maker.id, displayName: 'Mia Maker' } });
    const duplicate = await call(cloud.app, 'POST', '/api/v1/desktop-flows', {
      token: maker.token,
      body: { name: 'invoice EXPORT', runtime: 'shell', script: 'echo hi' },
    });
    expect(duplicate.json().code).toBe('NameTaken');
    const bad = await call(cloud.app, 'POST', '/api/v1/desktop-flows', { token: maker.token, body: { name: 'x', runtime: 'python', script: 'print(1)' } });
    expect(bad.json().code).toBe('ValidationFailed');

    const list = await call(cloud.app, 'GET', '/api/v1/desktop-flows', { token: maker.token });
    expect(list.json().map((f: { name: string }) => f.name)).toEqual(['Invoice export']);
    // Someone from another environment sees that environment's flows (none), not these.
    expect((await call(cloud.app, 'GET', '/api/v1/desktop-flows', { token: outsider.token })).json()).toEqual([]);
    const environmentId = created.json().environmentId as string;
    expect((await call(cloud.app, 'GET', `/api/v1/desktop-flows?environmentId=${environmentId}`, { token: outsider.token })).statusCode).toBe(404);
  });
});
