/**
 * Machines: registration by a signed-in user (roles, restricted registration, environments) and
 * with a registration token (VMs enrolled by script), key checks, what each person sees, status,
 * edit and delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { accessToken, createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { injectSender, joinGroup, machineRegistration, registerMachine, type Send } from './group-client.ts';

describe(`machines (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let send: Send;
  let now = new Date();
  let environmentId: string;
  let admin: FixtureUser;
  let owner: FixtureUser;
  let maker: FixtureUser;
  let runner: FixtureUser;
  let outsider: FixtureUser;

  beforeAll(async () => {
    cloud = await buildCloud({ now: () => now });
    send = injectSender(cloud.app);
    environmentId = await createEnvironment(cloud.db);
    admin = await createUser(cloud.db, environmentId, 'Ada Admin', ['EnvironmentAdmin']);
    owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    maker = await createUser(cloud.db, environmentId, 'Mark Maker', ['EnvironmentMaker']);
    runner = await createUser(cloud.db, environmentId, 'Uma User', ['MachineUser']);
    const elsewhere = await createEnvironment(cloud.db, 'Elsewhere', false);
    outsider = await createUser(cloud.db, elsewhere, 'Otto Outsider', ['EnvironmentAdmin']);
  });
  afterAll(async () => cloud?.close());

  const register = (token: string | undefined, body: Record<string, unknown>, authorization?: string) =>
    cloud.app.inject({
      method: 'POST',
      url: '/api/v1/machines',
      headers: authorization ? { authorization } : token ? { authorization: `Bearer ${token}` } : {},
      payload: body,
    });

  it('registers a machine for a signed-in user in the default environment', async () => {
    const body = machineRegistration('Build PC', { description: 'Under the desk' });
    const reply = await register(owner.token, body);
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json()).toMatchObject({
      name: 'Build PC',
      description: 'Under the desk',
      environmentId,
      status: 'Offline',
      groupId: null,
      owner: { id: owner.id, displayName: 'Olivia Owner' },
      access: 'Owner',
      lastSeenAt: null,
      runtimeVersion: '0.1.0',
      cloneSuspected: false,
      signingPublicKey: body.signingPublicKey,
    });
    const [row] = await cloud.db.query<{ fingerprint_hash: string }>('SELECT fingerprint_hash FROM machines WHERE id = $1', [reply.json().id]);
    expect(row!.fingerprint_hash).toBe(body.fingerprint);
  });

  it('follows the registration rules: roles, restricted registration, environments', async () => {
    expect((await register(maker.token, machineRegistration('maker-pc'))).statusCode).toBe(201);
    expect((await register(runner.token, machineRegistration('user-pc'))).statusCode).toBe(403);
    await cloud.db.query('UPDATE environments SET restrict_machine_registration = true WHERE id = $1', [environmentId]);
    try {
      const restricted = await register(maker.token, machineRegistration('maker-pc-2'));
      expect(restricted.statusCode).toBe(403);
      expect(restricted.json()).toMatchObject({ code: 'Forbidden' });
      expect((await register(owner.token, machineRegistration('owner-pc-2'))).statusCode).toBe(201);
    } finally {
      await cloud.db.query('UPDATE environments SET restrict_machine_registration = false WHERE id = $1', [environmentId]);
    }
    // An environment the caller has no role in is invisible; so is one that does not exist.
    expect((await register(outsider.token, machineRegistration('x', { environmentId }))).statusCode).toBe(404);
    expect((await register(owner.token, machineRegistration('x', { environmentId: '4b8f1c2e-0000-4000-8000-000000000000' }))).statusCode).toBe(404);
    expect((await register(undefined, machineRegistration('anonymous'))).statusCode).toBe(401);
  });

  it('refuses keys that are not raw 32-byte keys', async () => {
    for (const bad of [
      Buffer.alloc(33, 7).toString('base64'),
      Buffer.alloc(31, 7).toString('base64'),
      Buffer.alloc(32, 7).toString('hex'),
      'not base64 at all!',
    ]) {
      for (const field of ['signingPublicKey', 'encryptionPublicKey']) {
        const reply = await register(owner.token, machineRegistration('bad-key', { [field]: bad }));
        expect(reply.statusCode, `${field}=${bad}`).toBe(400);
        expect(reply.json()).toMatchObject({ code: 'ValidationFailed' });
      }
    }
    const badFingerprint = await register(owner.token, machineRegistration('bad-fp', { fingerprint: 'ABC' }));
    expect(badFingerprint.statusCode).toBe(400);
  });

  it('enrols VMs with a registration token: the machine belongs to the token creator', async () => {
    const created = await send('POST', `/api/v1/environments/${environmentId}/registration-tokens`, {
      token: owner.token,
      body: { maxUses: 2, expiresInSeconds: 600 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const token = created.body.token as string;

    const first = await register(undefined, machineRegistration('vm-a'), `RegistrationToken ${token}`);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ owner: { id: owner.id }, environmentId, access: 'Owner' });
    const [audit] = await cloud.db.query<{ actor_type: string; actor_id: string }>(
      `SELECT actor_type, actor_id FROM audit_events WHERE action = 'machine.registered' AND target_id = $1`,
      [first.json().id],
    );
    expect(audit).toMatchObject({ actor_type: 'registrationToken', actor_id: created.body.id });

    // A bad key does not use up a use.
    const badKey = await register(undefined, machineRegistration('vm-bad', { signingPublicKey: 'x' }), `RegistrationToken ${token}`);
    expect(badKey.statusCode).toBe(400);
    expect((await register(undefined, machineRegistration('vm-b'), `RegistrationToken ${token}`)).statusCode).toBe(201);
    const usedUp = await register(undefined, machineRegistration('vm-c'), `RegistrationToken ${token}`);
    expect(usedUp.statusCode).toBe(401);
    expect(usedUp.json()).toMatchObject({ code: 'Unauthorized' });

    expect((await register(undefined, machineRegistration('vm-d'), 'RegistrationToken mrreg_nonsense')).statusCode).toBe(401);
    expect((await register(undefined, machineRegistration('vm-d'), 'RegistrationToken')).statusCode).toBe(401);

    // Expired.
    const shortLived = await send('POST', `/api/v1/environments/${environmentId}/registration-tokens`, {
      token: owner.token,
      body: { expiresInSeconds: 60 },
    });
    expect(shortLived.status).toBe(201);
    now = new Date(now.getTime() + 61_000);
    try {
      const expired = await register(undefined, machineRegistration('vm-late'), `RegistrationToken ${shortLived.body.token}`);
      expect(expired.statusCode).toBe(401);
    } finally {
      now = new Date();
    }

    // Revoked.
    const revocable = await send('POST', `/api/v1/environments/${environmentId}/registration-tokens`, { token: owner.token, body: {} });
    await cloud.db.query('UPDATE registration_tokens SET revoked_at = now() WHERE id = $1', [revocable.body.id]);
    expect((await register(undefined, machineRegistration('vm-revoked'), `RegistrationToken ${revocable.body.token}`)).statusCode).toBe(401);
  });

  it('lists what each caller may see, with the status the app shows', async () => {
    const mine = await registerMachine(send, cloud.db, owner.token, 'listed-pc');
    const group = await send('POST', '/api/v1/machine-groups', { token: owner.token, body: { name: 'Listed group' } });
    const groupId = group.body.id as string;
    await send('PUT', `/api/v1/machine-groups/${groupId}/access/${runner.id}`, { token: owner.token, body: { access: 'User' } });
    const ids = async (token: string) => ((await send('GET', '/api/v1/machines', { token })).body as { id: string }[]).map((m) => m.id);

    expect(await ids(owner.token)).toContain(mine.id);
    expect(await ids(admin.token)).toContain(mine.id);
    expect(await ids(runner.token)).not.toContain(mine.id);
    expect(await ids(outsider.token)).not.toContain(mine.id);
    expect(await ids(mine.token)).toContain(mine.id);

    // In a group shared with the user: they see it, with their access to the group.
    expect((await joinGroup(send, mine, groupId, 'listed-password')).reply.status).toBe(201);
    const seen = (await send('GET', '/api/v1/machines', { token: runner.token })).body.find((m: { id: string }) => m.id === mine.id);
    expect(seen).toMatchObject({ groupId, access: 'User', allowedActions: ['view'] });
    expect((await send('GET', `/api/v1/machines/${mine.id}`, { token: runner.token })).status).toBe(200);
    expect((await send('GET', `/api/v1/machines/${mine.id}`, { token: outsider.token })).status).toBe(404);
    expect((await send('GET', `/api/v1/machines/${mine.id}`, { token: mine.token })).body).toMatchObject({ id: mine.id, access: 'Owner' });

    const status = async () => (await send('GET', `/api/v1/machines/${mine.id}`, { token: owner.token })).body.status;
    expect(await status()).toBe('Offline');
    await cloud.db.query(`UPDATE machines SET status = 'Online', last_seen_at = now() WHERE id = $1`, [mine.id]);
    expect(await status()).toBe('Online');
    expect((await send('PATCH', `/api/v1/machines/${mine.id}`, { token: owner.token, body: { maintenance: true } })).status).toBe(200);
    expect(await status()).toBe('Maintenance');
    await send('PATCH', `/api/v1/machines/${mine.id}`, { token: owner.token, body: { maintenance: false } });
    expect(await status()).toBe('Online');
    await send('PATCH', `/api/v1/machine-groups/${groupId}`, { token: owner.token, body: { maintenance: true } });
    expect(await status()).toBe('Maintenance');
  });

  it('lets the owner edit and delete; others get 403 or 404; delete breaks connections and empties the slot', async () => {
    const machine = await registerMachine(send, cloud.db, owner.token, 'edited-pc');
    const group = await send('POST', '/api/v1/machine-groups', { token: owner.token, body: { name: 'Edit group' } });
    const groupId = group.body.id as string;
    await send('PUT', `/api/v1/machine-groups/${groupId}/access/${maker.id}`, { token: owner.token, body: { access: 'CoOwner' } });
    expect((await joinGroup(send, machine, groupId, 'edit-password')).reply.status).toBe(201);

    const renamed = await send('PATCH', `/api/v1/machines/${machine.id}`, {
      token: owner.token,
      body: { name: 'Edited PC', description: 'renamed' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Edited PC', description: 'renamed' });
    // A co-owner of the group sees the machine but may not edit it (it is not theirs).
    expect((await send('PATCH', `/api/v1/machines/${machine.id}`, { token: maker.token, body: { name: 'x' } })).status).toBe(403);
    expect((await send('PATCH', `/api/v1/machines/${machine.id}`, { token: outsider.token, body: { name: 'x' } })).status).toBe(404);
    expect((await send('PATCH', `/api/v1/machines/${machine.id}`, { token: machine.token, body: { name: 'x' } })).status).toBe(403);
    expect((await send('DELETE', `/api/v1/machines/${machine.id}`, { token: maker.token })).status).toBe(403);

    const [connection] = await cloud.db.query<{ id: string }>(
      `INSERT INTO connections (environment_id, owner_id, name, target_type, target_id, username, sealed_password)
       VALUES ($1, $2, 'direct', 'Machine', $3, 'robot', 'sealed') RETURNING id`,
      [environmentId, owner.id, machine.id],
    );
    // Joining already broke connections made before; this one is made after the join.
    expect((await send('DELETE', `/api/v1/machines/${machine.id}`, { token: owner.token })).status).toBe(204);
    expect((await send('GET', `/api/v1/machines/${machine.id}`, { token: owner.token })).status).toBe(404);
    const [after] = await cloud.db.query<{ status: string; broken_reason: string }>('SELECT status, broken_reason FROM connections WHERE id = $1', [
      connection!.id,
    ]);
    expect(after).toMatchObject({ status: 'Broken' });
    expect(after!.broken_reason).toMatch(/deleted/);
    const listed = await send('GET', `/api/v1/machine-groups/${groupId}`, { token: owner.token });
    expect(listed.body).toMatchObject({ machineCount: 0 });
    // An admin may delete anyone's machine.
    const another = await registerMachine(send, cloud.db, owner.token, 'admin-deletes');
    expect((await send('DELETE', `/api/v1/machines/${another.id}`, { token: admin.token })).status).toBe(204);
    // A token of a deleted machine no longer works.
    expect((await send('GET', '/api/v1/machines', { token: await accessToken(cloud.db, { machineId: another.id }) })).status).toBe(401);
  });
});
