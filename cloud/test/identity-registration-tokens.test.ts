/**
 * Registration tokens: create (who may), list (never the values), revoke, expiry, uses (also
 * under concurrency), and `restrictMachineRegistration`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { consumeRegistrationToken } from '../src/identity/registration-tokens.ts';

const API = '/api/v1';

describe(`registration tokens (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let clock = Date.now();
  let environmentId: string;
  let admin: FixtureUser;
  let maker: FixtureUser;
  let otherMaker: FixtureUser;
  let owner: FixtureUser;
  let machineUser: FixtureUser;

  const url = () => `${API}/environments/${environmentId}/registration-tokens`;
  const create = (user: FixtureUser, body: object = {}) => call(cloud.app, 'POST', url(), { token: user.token, body });
  const list = async (user: FixtureUser) => {
    const response = await call(cloud.app, 'GET', url(), { token: user.token });
    expect(response.statusCode).toBe(200);
    return response.json() as { id: string; status: string; usesLeft: number; maxUses: number; creator: { id: string } }[];
  };
  const consume = (token: string) => cloud.db.transaction((tx) => consumeRegistrationToken(tx, token, new Date(clock)));

  beforeAll(async () => {
    cloud = await buildCloud({ now: () => new Date(clock) });
    environmentId = await createEnvironment(cloud.db);
    admin = await createUser(cloud.db, environmentId, 'Admin', ['EnvironmentAdmin']);
    maker = await createUser(cloud.db, environmentId, 'Maker', ['EnvironmentMaker']);
    otherMaker = await createUser(cloud.db, environmentId, 'Other Maker', ['EnvironmentMaker']);
    owner = await createUser(cloud.db, environmentId, 'Owner', ['MachineOwner']);
    machineUser = await createUser(cloud.db, environmentId, 'Machine User', ['MachineUser']);
  });
  afterAll(async () => cloud?.close());

  it('creates a one-use, one-hour token by default, shown once and stored hashed', async () => {
    const response = await create(maker);
    expect(response.statusCode).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json();
    expect(body).toEqual({
      id: expect.any(String),
      environmentId,
      token: expect.stringMatching(/^mrreg_[\w-]{43}$/),
      expiresAt: new Date(clock + 3600 * 1000).toISOString(),
      maxUses: 1,
    });
    const stored = await cloud.db.query<Record<string, unknown>>('SELECT * FROM registration_tokens WHERE id = $1', [body.id]);
    expect(JSON.stringify(stored)).not.toContain(body.token);
    expect(JSON.stringify(stored)).not.toContain(body.token.slice(6));

    expect(await consume(body.token)).toEqual({ tokenId: body.id, environmentId, creatorId: maker.id });
    expect(await consume(body.token)).toBeNull();
    expect((await list(maker)).find((token) => token.id === body.id)).toMatchObject({ status: 'UsedUp', usesLeft: 0, maxUses: 1 });
  });

  it('honours maxUses and expiresInSeconds within bounds', async () => {
    const response = await create(owner, { maxUses: 3, expiresInSeconds: 600 });
    expect(response.statusCode).toBe(201);
    const { token, expiresAt } = response.json();
    expect(expiresAt).toBe(new Date(clock + 600 * 1000).toISOString());
    for (let i = 0; i < 3; i++) expect(await consume(token)).not.toBeNull();
    expect(await consume(token)).toBeNull();

    for (const body of [{ maxUses: 0 }, { maxUses: 1001 }, { expiresInSeconds: 31 * 24 * 3600 }, { expiresInSeconds: 10 }, { maxUses: 1.5 }]) {
      const refused = await create(owner, body);
      expect(refused.statusCode, JSON.stringify(body)).toBe(400);
      expect(refused.json().code).toBe('ValidationFailed');
    }
  });

  it('stops working when it expires', async () => {
    const { token, id } = (await create(maker, { expiresInSeconds: 60, maxUses: 5 })).json();
    clock += 61 * 1000;
    try {
      expect(await consume(token)).toBeNull();
      expect((await list(maker)).find((t) => t.id === id)?.status).toBe('Expired');
    } finally {
      clock -= 61 * 1000;
    }
  });

  it('gives out exactly maxUses uses when machines race for them', async () => {
    const { token } = (await create(admin, { maxUses: 3 })).json();
    const results = await Promise.all(Array.from({ length: 10 }, () => consume(token)));
    expect(results.filter((result) => result !== null)).toHaveLength(3);
  });

  it('lists tokens without their values: admins see all, others their own', async () => {
    const created = (await create(otherMaker)).json();
    const forAdmin = await list(admin);
    const forMaker = await list(maker);
    const forOther = await list(otherMaker);
    expect(forAdmin.map((t) => t.id)).toContain(created.id);
    expect(forOther.map((t) => t.id)).toEqual([created.id]);
    expect(forMaker.map((t) => t.id)).not.toContain(created.id);
    expect(forMaker.every((t) => t.creator.id === maker.id)).toBe(true);
    expect(forOther[0]).toEqual({
      id: created.id,
      environmentId,
      creator: { id: otherMaker.id, displayName: 'Other Maker' },
      createdAt: new Date(clock).toISOString(),
      expiresAt: created.expiresAt,
      maxUses: 1,
      usesLeft: 1,
      revokedAt: null,
      status: 'Active',
    });
    expect(JSON.stringify(forAdmin)).not.toContain(created.token);
    expect(await list(machineUser)).toEqual([]);
  });

  it('is revoked by its creator or an admin; others do not see it', async () => {
    const mine = (await create(maker, { maxUses: 5 })).json();
    const byOther = await call(cloud.app, 'DELETE', `${url()}/${mine.id}`, { token: otherMaker.token });
    expect(byOther.statusCode).toBe(404);
    expect(await consume(mine.token)).not.toBeNull();

    const revoke = await call(cloud.app, 'DELETE', `${url()}/${mine.id}`, { token: maker.token });
    expect(revoke.statusCode).toBe(204);
    expect(await consume(mine.token)).toBeNull();
    const listed = (await list(maker)).find((t) => t.id === mine.id)!;
    expect(listed).toMatchObject({ status: 'Revoked', revokedAt: new Date(clock).toISOString() });
    // Revoking again changes nothing.
    expect((await call(cloud.app, 'DELETE', `${url()}/${mine.id}`, { token: maker.token })).statusCode).toBe(204);

    const makers = (await create(maker)).json();
    expect((await call(cloud.app, 'DELETE', `${url()}/${makers.id}`, { token: admin.token })).statusCode).toBe(204);
    expect(await consume(makers.token)).toBeNull();

    // A token of another environment is not found through this one.
    const otherEnvironment = await createEnvironment(cloud.db, 'Other', false);
    await cloud.db.query(`INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, 'EnvironmentAdmin')`, [
      otherEnvironment,
      admin.id,
    ]);
    const elsewhere = (await call(cloud.app, 'POST', `${API}/environments/${otherEnvironment}/registration-tokens`, { token: admin.token, body: {} })).json();
    expect((await call(cloud.app, 'DELETE', `${url()}/${elsewhere.id}`, { token: admin.token })).statusCode).toBe(404);

    const audit = await cloud.db.query<{ action: string }>(
      `SELECT action FROM audit_events WHERE target_id = $1 ORDER BY id`,
      [mine.id],
    );
    expect(audit.map((row) => row.action)).toEqual(['registrationToken.created', 'registrationToken.revoked']);
  });

  it('follows restrictMachineRegistration: makers only while not restricted, machine owners always', async () => {
    expect((await create(maker)).statusCode).toBe(201);
    expect((await create(machineUser)).statusCode).toBe(403);

    const restrict = await call(cloud.app, 'PATCH', `${API}/environments/${environmentId}`, {
      token: admin.token,
      body: { restrictMachineRegistration: true },
    });
    expect(restrict.statusCode).toBe(200);
    const refused = await create(maker);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('Forbidden');
    expect((await create(owner)).statusCode).toBe(201);
    expect((await create(admin)).statusCode).toBe(201);
    expect((await create(machineUser)).statusCode).toBe(403);
    // The app learns the same answers from /me and /environments, so it offers only what works.
    const allowedFor = async (user: { token: string }) =>
      (await call(cloud.app, 'GET', `${API}/me`, { token: user.token })).json().environments.find((e: { id: string }) => e.id === environmentId);
    expect(await allowedFor(maker)).toMatchObject({ mayRegisterMachines: false, mayCreateGroups: true });
    expect(await allowedFor(owner)).toMatchObject({ mayRegisterMachines: true, mayCreateGroups: true });
    expect(await allowedFor(machineUser)).toMatchObject({ mayRegisterMachines: false, mayCreateGroups: false });
    const listed = (await call(cloud.app, 'GET', `${API}/environments`, { token: maker.token })).json();
    expect(listed.find((e: { id: string }) => e.id === environmentId)).toMatchObject({ mayRegisterMachines: false });

    await call(cloud.app, 'PATCH', `${API}/environments/${environmentId}`, { token: admin.token, body: { restrictMachineRegistration: false } });
    expect((await create(maker)).statusCode).toBe(201);
  });
});
