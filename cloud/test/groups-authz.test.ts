/**
 * Authorization matrix for the machine and machine-group routes: every route × {admin, owner,
 * co-owner, user, stranger, machine token, no token} → expected status, each cell on fresh
 * objects. Then object-level checks: another user's group and machine, another environment.
 *
 * The cast, in one environment: admin (Environment Admin); owner (Machine Owner; owns the group
 * G and the machines); coOwner (Machine Owner, Co-owner of G); user (Machine User, User of G);
 * stranger (Machine Owner, no access to G). The machine token is that of the owner's machine M,
 * a member of G (for joining: the owner's machine N, in no group).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { accessToken, createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { injectSender, machineRegistration, requestChallenge, type Reply, type Send, type TestMachine } from './group-client.ts';
import { createGroupKeys, signChallenge, wrapGroupKeys, type GroupKeys } from '../../electron/runtime/group-crypto.ts';
import { groupChallengeMessage } from '../../protocol/cloud-api.ts';

const CALLERS = ['admin', 'owner', 'coOwner', 'user', 'stranger', 'machine', 'none'] as const;
type CallerName = (typeof CALLERS)[number];

interface World {
  group: string;
  emptyGroup: string;
  member: TestMachine;
  outsider: TestMachine;
}

interface Row {
  route: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: (w: World) => string;
  /** Which machine's token the `machine` caller uses (default: the member M). */
  machine?: 'member' | 'outsider';
  body?: (w: World, caller: CallerName) => Promise<unknown> | unknown;
  expect: Record<CallerName, number>;
  /** Extra check on a successful answer. */
  check?: (reply: Reply, w: World, caller: CallerName) => void;
}

const FAKE_PROOF = { nonce: 'A'.repeat(43), signature: `${'A'.repeat(86)}==` };

describe(`authorization matrix (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let send: Send;
  let environmentId: string;
  const cast = {} as Record<Exclude<CallerName, 'machine' | 'none'>, FixtureUser>;
  let shareTarget: FixtureUser;
  let keys: GroupKeys;
  let bundle: string;
  const unique = () => randomBytes(4).toString('hex');

  beforeAll(async () => {
    cloud = await buildCloud({
      rateLimits: { groupPerHour: 100_000, userPerMinute: 100_000, signInPerAccount: 10, signInPerAddress: 50 },
    });
    send = injectSender(cloud.app);
    environmentId = await createEnvironment(cloud.db);
    cast.admin = await createUser(cloud.db, environmentId, 'Ada Admin', ['EnvironmentAdmin']);
    cast.owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    cast.coOwner = await createUser(cloud.db, environmentId, 'Cora CoOwner', ['MachineOwner']);
    cast.user = await createUser(cloud.db, environmentId, 'Uma User', ['MachineUser']);
    cast.stranger = await createUser(cloud.db, environmentId, 'Sam Stranger', ['MachineOwner']);
    shareTarget = await createUser(cloud.db, environmentId, 'Tess Target', ['MachineUser']);
    keys = createGroupKeys();
    bundle = await wrapGroupKeys(keys, 'matrix-password', 'unused-group-binding');
  });
  afterAll(async () => cloud?.close());

  async function insertGroup(name: string, withKeys: boolean): Promise<string> {
    const [row] = await cloud.db.query<{ id: string }>(
      `INSERT INTO machine_groups (environment_id, owner_id, name, key_bundle, signing_public_key, encryption_public_key, key_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [
        environmentId,
        cast.owner.id,
        name,
        withKeys ? bundle : null,
        withKeys ? keys.signing.publicKey : null,
        withKeys ? keys.encryption.publicKey : null,
        withKeys ? 1 : 0,
      ],
    );
    const id = row!.id;
    await cloud.db.query(`INSERT INTO group_access (group_id, user_id, level) VALUES ($1, $2, 'CoOwner'), ($1, $3, 'User')`, [
      id,
      cast.coOwner.id,
      cast.user.id,
    ]);
    return id;
  }

  async function insertMachine(name: string, groupId: string | null): Promise<TestMachine> {
    const body = machineRegistration(name);
    const [row] = await cloud.db.query<{ id: string }>(
      `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash, group_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [environmentId, cast.owner.id, name, body.signingPublicKey, body.encryptionPublicKey, body.fingerprint, groupId],
    );
    return { id: row!.id, name, token: await accessToken(cloud.db, { machineId: row!.id }) };
  }

  async function world(): Promise<World> {
    const suffix = unique();
    const group = await insertGroup(`G-${suffix}`, true);
    const emptyGroup = await insertGroup(`E-${suffix}`, false);
    return { group, emptyGroup, member: await insertMachine(`M-${suffix}`, group), outsider: await insertMachine(`N-${suffix}`, null) };
  }

  const all = (status: number, overrides: Partial<Record<CallerName, number>> = {}): Record<CallerName, number> => ({
    admin: status,
    owner: status,
    coOwner: status,
    user: status,
    stranger: status,
    machine: status,
    none: 401,
    ...overrides,
  });
  /** Machine-only routes: people get 403, no token 401. */
  const machineOnly = (status: number) => all(403, { machine: status });

  const ROWS: Row[] = [
    {
      route: 'POST /machines',
      method: 'POST',
      path: () => '/api/v1/machines',
      body: () => machineRegistration(`new-${unique()}`),
      expect: all(201, { user: 403, machine: 403 }),
    },
    {
      route: 'GET /machines',
      method: 'GET',
      path: () => '/api/v1/machines',
      expect: all(200),
      check: (reply, w, caller) => {
        const ids = (reply.body as { id: string }[]).map((m) => m.id);
        expect(ids.includes(w.member.id), `${caller} sees M`).toBe(caller !== 'stranger');
      },
    },
    { route: 'GET /machines/{id}', method: 'GET', path: (w) => `/api/v1/machines/${w.member.id}`, expect: all(200, { stranger: 404 }) },
    {
      route: 'PATCH /machines/{id}',
      method: 'PATCH',
      path: (w) => `/api/v1/machines/${w.member.id}`,
      body: () => ({ description: 'changed' }),
      expect: all(403, { admin: 200, owner: 200, stranger: 404 }),
    },
    {
      route: 'DELETE /machines/{id}',
      method: 'DELETE',
      path: (w) => `/api/v1/machines/${w.member.id}`,
      expect: all(403, { admin: 204, owner: 204, stranger: 404 }),
    },
    {
      route: 'GET /machine-groups',
      method: 'GET',
      path: () => '/api/v1/machine-groups',
      expect: all(200),
      check: (reply, w, caller) => {
        const ids = (reply.body as { id: string }[]).map((g) => g.id);
        expect(ids.includes(w.group), `${caller} sees G`).toBe(caller !== 'stranger');
      },
    },
    {
      route: 'POST /machine-groups',
      method: 'POST',
      path: () => '/api/v1/machine-groups',
      body: () => ({ name: `new-${unique()}` }),
      expect: all(201, { user: 403, machine: 403 }),
    },
    {
      route: 'GET /machine-groups/{id}',
      method: 'GET',
      path: (w) => `/api/v1/machine-groups/${w.group}`,
      expect: all(200, { stranger: 404 }),
      check: (reply, _w, caller) => {
        const expected: Record<string, string | null> = { admin: null, owner: 'Owner', coOwner: 'CoOwner', user: 'User', machine: 'Owner' };
        expect(reply.body.access).toBe(expected[caller]);
      },
    },
    {
      route: 'PATCH /machine-groups/{id}',
      method: 'PATCH',
      path: (w) => `/api/v1/machine-groups/${w.group}`,
      body: () => ({ description: 'changed' }),
      expect: all(200, { user: 403, stranger: 404, machine: 403 }),
    },
    {
      route: 'DELETE /machine-groups/{id}',
      method: 'DELETE',
      path: (w) => `/api/v1/machine-groups/${w.emptyGroup}`,
      expect: all(204, { user: 403, stranger: 404, machine: 403 }),
    },
    {
      route: 'GET /machine-groups/{id}/machines',
      method: 'GET',
      path: (w) => `/api/v1/machine-groups/${w.group}/machines`,
      expect: all(200, { stranger: 404 }),
      check: (reply, w) => expect((reply.body as { id: string }[]).map((m) => m.id)).toEqual([w.member.id]),
    },
    {
      route: 'DELETE /machine-groups/{id}/machines/{machineId}',
      method: 'DELETE',
      path: (w) => `/api/v1/machine-groups/${w.group}/machines/${w.member.id}`,
      expect: all(204, { user: 403, stranger: 404 }),
    },
    {
      route: 'GET /machine-groups/{id}/access',
      method: 'GET',
      path: (w) => `/api/v1/machine-groups/${w.group}/access`,
      expect: all(200, { stranger: 404 }),
      check: (reply) =>
        expect(reply.body).toEqual([
          { user: { id: cast.owner.id, email: cast.owner.email, displayName: 'Olivia Owner' }, access: 'Owner' },
          { user: { id: cast.coOwner.id, email: cast.coOwner.email, displayName: 'Cora CoOwner' }, access: 'CoOwner' },
          { user: { id: cast.user.id, email: cast.user.email, displayName: 'Uma User' }, access: 'User' },
        ]),
    },
    {
      route: 'PUT /machine-groups/{id}/access/{userId}',
      method: 'PUT',
      path: (w) => `/api/v1/machine-groups/${w.group}/access/${shareTarget.id}`,
      body: () => ({ access: 'User' }),
      expect: all(200, { user: 403, stranger: 404, machine: 403 }),
    },
    {
      route: 'DELETE /machine-groups/{id}/access/{userId}',
      method: 'DELETE',
      path: (w) => `/api/v1/machine-groups/${w.group}/access/${cast.user.id}`,
      expect: all(204, { user: 403, stranger: 404, machine: 403 }),
    },
    {
      route: 'GET /machine-groups/{id}/key-bundle',
      method: 'GET',
      path: (w) => `/api/v1/machine-groups/${w.group}/key-bundle`,
      expect: all(200, { user: 403, stranger: 404 }),
      check: (reply) => expect(reply.body).toMatchObject({ hasPassword: true, keyBundle: bundle, signingPublicKey: keys.signing.publicKey }),
    },
    {
      route: 'POST /machine-groups/{id}/challenges',
      method: 'POST',
      machine: 'outsider',
      path: (w) => `/api/v1/machine-groups/${w.group}/challenges`,
      body: () => ({ purpose: 'join' }),
      expect: machineOnly(201),
    },
    {
      route: 'POST /machine-groups/{id}/members',
      method: 'POST',
      machine: 'outsider',
      path: (w) => `/api/v1/machine-groups/${w.group}/members`,
      body: async (w, caller) => {
        if (caller !== 'machine') return FAKE_PROOF;
        const nonce = await requestChallenge(send, w.outsider, w.group, 'join');
        return { nonce, signature: signChallenge(keys, groupChallengeMessage({ purpose: 'join', groupId: w.group, machineId: w.outsider.id, nonce })) };
      },
      expect: machineOnly(201),
    },
    {
      route: 'PUT /machine-groups/{id}/key-bundle',
      method: 'PUT',
      path: (w) => `/api/v1/machine-groups/${w.group}/key-bundle`,
      body: async (w, caller) => {
        if (caller !== 'machine') return { ...FAKE_PROOF, keyBundle: bundle };
        const nonce = await requestChallenge(send, w.member, w.group, 'password');
        const message = groupChallengeMessage({ purpose: 'password', groupId: w.group, machineId: w.member.id, nonce, keyBundle: bundle });
        return { nonce, signature: signChallenge(keys, message), keyBundle: bundle };
      },
      expect: machineOnly(200),
    },
  ];

  it('covers every machine and machine-group route in the OpenAPI document', async () => {
    const spec = (await send('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(spec.paths)
      .filter(([path]) => path.startsWith('/api/v1/machines') || path.startsWith('/api/v1/machine-groups'))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace('/api/v1', '')}`));
    expect(documented.sort()).toEqual(ROWS.map((row) => row.route).sort());
  });

  for (const row of ROWS) {
    it(`${row.route}`, async () => {
      const outcomes: Record<string, number> = {};
      for (const caller of CALLERS) {
        const w = await world();
        const machine = row.machine === 'outsider' ? w.outsider : w.member;
        const token = caller === 'none' ? undefined : caller === 'machine' ? machine.token : cast[caller].token;
        const body = row.body ? await row.body(w, caller) : undefined;
        const reply = await send(row.method, row.path(w), { ...(token ? { token } : {}), ...(body !== undefined ? { body } : {}) });
        outcomes[caller] = reply.status;
        if (reply.status >= 400) {
          expect(reply.headers['content-type'], `${caller}: problem+json`).toMatch(/^application\/problem\+json/);
        } else if (reply.status === row.expect[caller] && row.check) {
          row.check(reply, w, caller);
        }
      }
      expect(outcomes).toEqual(row.expect);
    });
  }

  describe('object-level checks', () => {
    it("hides another user's group and machine, and another environment's objects", async () => {
      const w = await world();
      const other = await createUser(cloud.db, environmentId, `Other Owner ${unique()}`, ['MachineOwner']);
      const theirGroup = await send('POST', '/api/v1/machine-groups', { token: other.token, body: { name: `theirs-${unique()}` } });
      const theirMachine = await send('POST', '/api/v1/machines', { token: other.token, body: machineRegistration('their-pc') });
      expect(theirGroup.status).toBe(201);
      for (const path of [
        `/api/v1/machine-groups/${theirGroup.body.id}`,
        `/api/v1/machine-groups/${theirGroup.body.id}/machines`,
        `/api/v1/machine-groups/${theirGroup.body.id}/access`,
        `/api/v1/machine-groups/${theirGroup.body.id}/key-bundle`,
        `/api/v1/machines/${theirMachine.body.id}`,
      ]) {
        expect((await send('GET', path, { token: cast.owner.token })).status, path).toBe(404);
        expect((await send('GET', path, { token: w.member.token })).status, `machine ${path}`).toBe(404);
      }
      expect((await send('PATCH', `/api/v1/machines/${theirMachine.body.id}`, { token: cast.owner.token, body: { name: 'x' } })).status).toBe(404);
      expect((await send('DELETE', `/api/v1/machine-groups/${theirGroup.body.id}`, { token: cast.owner.token })).status).toBe(404);
      // The owner's machine cannot ask to join a group its owner cannot see.
      const refused = await send('POST', `/api/v1/machine-groups/${theirGroup.body.id}/challenges`, { token: w.outsider.token, body: { purpose: 'join' } });
      expect(refused.status).toBe(404);

      // An admin of another environment sees nothing of this one.
      const elsewhere = await createEnvironment(cloud.db, `Elsewhere ${unique()}`, false);
      const foreignAdmin = await createUser(cloud.db, elsewhere, `Foreign Admin ${unique()}`, ['EnvironmentAdmin']);
      expect((await send('GET', `/api/v1/machine-groups/${w.group}`, { token: foreignAdmin.token })).status).toBe(404);
      expect((await send('GET', `/api/v1/machines/${w.member.id}`, { token: foreignAdmin.token })).status).toBe(404);
      const list = await send('GET', '/api/v1/machine-groups', { token: foreignAdmin.token });
      expect((list.body as { id: string }[]).map((g) => g.id)).not.toContain(w.group);
      const create = await send('POST', '/api/v1/machine-groups', { token: foreignAdmin.token, body: { name: 'x', environmentId } });
      expect(create.status).toBe(404);
    });

    it('refuses sharing with the owner or with an unknown user, and unsharing someone without access', async () => {
      const w = await world();
      const withOwner = await send('PUT', `/api/v1/machine-groups/${w.group}/access/${cast.owner.id}`, {
        token: cast.coOwner.token,
        body: { access: 'User' },
      });
      expect(withOwner.status).toBe(400);
      expect(withOwner.body).toMatchObject({ code: 'ValidationFailed' });
      const unknown = await send('PUT', `/api/v1/machine-groups/${w.group}/access/7d4c2b1a-0000-4000-8000-000000000000`, {
        token: cast.owner.token,
        body: { access: 'CoOwner' },
      });
      expect(unknown.status).toBe(404);
      const removeOwner = await send('DELETE', `/api/v1/machine-groups/${w.group}/access/${cast.owner.id}`, { token: cast.admin.token });
      expect(removeOwner.status).toBe(400);
      const notShared = await send('DELETE', `/api/v1/machine-groups/${w.group}/access/${shareTarget.id}`, { token: cast.owner.token });
      expect(notShared.status).toBe(404);
      // Sharing changes what the person may do at once.
      const promote = await send('PUT', `/api/v1/machine-groups/${w.group}/access/${cast.user.id}`, {
        token: cast.coOwner.token,
        body: { access: 'CoOwner' },
      });
      expect(promote.status).toBe(200);
      const asUser = await send('GET', `/api/v1/machine-groups/${w.group}`, { token: cast.user.token });
      // A Machine User role grants run only, whatever the access: the role caps the access.
      expect(asUser.body).toMatchObject({ access: 'CoOwner', allowedActions: ['run'] });
      expect((await send('DELETE', `/api/v1/machine-groups/${w.group}/access/${cast.user.id}`, { token: cast.owner.token })).status).toBe(204);
      expect((await send('GET', `/api/v1/machine-groups/${w.group}`, { token: cast.user.token })).status).toBe(404);
    });

    it('lets a machine leave its group after its owner lost access to the group', async () => {
      const w = await world();
      // The group belongs to someone else; the owner's machine joined while the owner was co-owner.
      const other = await createUser(cloud.db, environmentId, `Group Owner ${unique()}`, ['MachineOwner']);
      await cloud.db.query('UPDATE machine_groups SET owner_id = $2 WHERE id = $1', [w.group, other.id]);
      await cloud.db.query(`INSERT INTO group_access (group_id, user_id, level) VALUES ($1, $2, 'CoOwner')`, [w.group, cast.owner.id]);
      expect((await send('GET', `/api/v1/machine-groups/${w.group}`, { token: w.member.token })).status).toBe(200);
      await cloud.db.query('DELETE FROM group_access WHERE group_id = $1 AND user_id = $2', [w.group, cast.owner.id]);
      expect((await send('GET', `/api/v1/machine-groups/${w.group}`, { token: w.member.token })).status).toBe(404);
      const left = await send('DELETE', `/api/v1/machine-groups/${w.group}/machines/${w.member.id}`, { token: w.member.token });
      expect(left.status).toBe(204);
      const [row] = await cloud.db.query<{ group_id: string | null }>('SELECT group_id FROM machines WHERE id = $1', [w.member.id]);
      expect(row!.group_id).toBeNull();
    });

    it('refuses a member machine joining again, and a machine of another environment', async () => {
      const w = await world();
      const again = await send('POST', `/api/v1/machine-groups/${w.group}/challenges`, { token: w.member.token, body: { purpose: 'join' } });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ code: 'AlreadyInGroup' });
      // A machine of the owner registered in another environment where the owner also works.
      const elsewhere = await createEnvironment(cloud.db, `Second ${unique()}`, false);
      await cloud.db.query(`INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, 'MachineOwner')`, [elsewhere, cast.owner.id]);
      const foreign = await send('POST', '/api/v1/machines', {
        token: cast.owner.token,
        body: machineRegistration('foreign-vm', { environmentId: elsewhere }),
      });
      expect(foreign.status).toBe(201);
      const foreignToken = await accessToken(cloud.db, { machineId: foreign.body.id });
      const refused = await send('POST', `/api/v1/machine-groups/${w.group}/challenges`, { token: foreignToken, body: { purpose: 'join' } });
      expect(refused.status).toBe(403);
    });
  });
});
