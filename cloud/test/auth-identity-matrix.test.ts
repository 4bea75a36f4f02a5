/**
 * Authorization matrix for the identity routes: every route × {admin, owner, co-owner, user,
 * stranger, machine token, no token} → expected status. (The machine and group routes have
 * their own matrix.) Roles in the environment under test:
 *   admin     EnvironmentAdmin
 *   owner     MachineOwner (creates the tokens "owner's token" rows revoke)
 *   coOwner   MachineOwner
 *   user      MachineUser
 *   stranger  no role here; MachineOwner of another environment
 *   machine   a machine token (of owner's machine)
 *   none      no Authorization header
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createMachineRow, createUser, type FixtureUser } from './fixtures.ts';

const API = '/api/v1';
const ACTORS = ['admin', 'owner', 'coOwner', 'user', 'stranger', 'machine', 'none'] as const;
type ActorName = (typeof ACTORS)[number];
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Row {
  name: string;
  method: Method;
  /** Called once per actor, so state-changing rows get a fresh target each time. */
  request: () => Promise<{ url: string; body?: unknown }> | { url: string; body?: unknown };
  expect: Record<ActorName, number>;
}

/** Shorthand: the same status for every signed-in person, 403 for machines, 401 without a token. */
const forPeople = (status: number): Record<ActorName, number> => ({
  admin: status,
  owner: status,
  coOwner: status,
  user: status,
  stranger: status,
  machine: 403,
  none: 401,
});

describe(`identity authorization matrix (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let env: string;
  let otherEnv: string;
  let people: Record<Exclude<ActorName, 'machine' | 'none'>, FixtureUser>;
  let target: FixtureUser;
  let machineToken: string;
  let counter = 0;

  const tokenOf = (actor: ActorName): string | undefined =>
    actor === 'none' ? undefined : actor === 'machine' ? machineToken : people[actor].token;

  async function registrationTokenOf(creator: FixtureUser): Promise<string> {
    const response = await call(cloud.app, 'POST', `${API}/environments/${env}/registration-tokens`, { token: creator.token, body: {} });
    expect(response.statusCode).toBe(201);
    return response.json().id as string;
  }

  beforeAll(async () => {
    cloud = await buildCloud();
    env = await createEnvironment(cloud.db, 'Default', true);
    otherEnv = await createEnvironment(cloud.db, 'Other', false);
    people = {
      admin: await createUser(cloud.db, env, 'Admin', ['EnvironmentAdmin']),
      owner: await createUser(cloud.db, env, 'Owner', ['MachineOwner']),
      coOwner: await createUser(cloud.db, env, 'Co Owner', ['MachineOwner']),
      user: await createUser(cloud.db, env, 'User', ['MachineUser']),
      stranger: await createUser(cloud.db, otherEnv, 'Stranger', ['MachineOwner']),
    };
    target = await createUser(cloud.db, env, 'Target', ['MachineUser']);
    machineToken = (await createMachineRow(cloud.db, env, people.owner.id)).token;
  });
  afterAll(async () => cloud?.close());

  const rows: Row[] = [
    {
      name: 'GET /setup',
      method: 'GET',
      request: () => ({ url: `${API}/setup` }),
      expect: { admin: 200, owner: 200, coOwner: 200, user: 200, stranger: 200, machine: 200, none: 200 },
    },
    {
      name: 'POST /setup (already set up)',
      method: 'POST',
      request: () => ({ url: `${API}/setup`, body: { email: `late${counter++}@example.test`, password: 'long enough', displayName: 'Late' } }),
      expect: { admin: 409, owner: 409, coOwner: 409, user: 409, stranger: 409, machine: 409, none: 409 },
    },
    {
      name: 'POST /auth/token (public; an unknown refresh token)',
      method: 'POST',
      request: () => ({ url: `${API}/auth/token`, body: { grant_type: 'refresh_token', refresh_token: 'mrrt_unknown' } }),
      expect: { admin: 401, owner: 401, coOwner: 401, user: 401, stranger: 401, machine: 401, none: 401 },
    },
    {
      name: 'POST /auth/logout (public; unknown token)',
      method: 'POST',
      request: () => ({ url: `${API}/auth/logout`, body: { refresh_token: 'mrrt_unknown' } }),
      expect: { admin: 204, owner: 204, coOwner: 204, user: 204, stranger: 204, machine: 204, none: 204 },
    },
    { name: 'GET /me', method: 'GET', request: () => ({ url: `${API}/me` }), expect: forPeople(200) },
    { name: 'GET /users?search=', method: 'GET', request: () => ({ url: `${API}/users?search=o` }), expect: forPeople(200) },
    {
      name: 'POST /users',
      method: 'POST',
      request: () => ({
        url: `${API}/users`,
        body: { email: `new${counter++}@example.test`, displayName: 'New Person', password: 'a good password' },
      }),
      expect: { admin: 201, owner: 403, coOwner: 403, user: 403, stranger: 403, machine: 403, none: 401 },
    },
    { name: 'GET /environments', method: 'GET', request: () => ({ url: `${API}/environments` }), expect: forPeople(200) },
    {
      name: 'PATCH /environments/{id}',
      method: 'PATCH',
      request: () => ({ url: `${API}/environments/${env}`, body: { restrictMachineRegistration: false } }),
      expect: { admin: 200, owner: 403, coOwner: 403, user: 403, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: 'PATCH /environments/{id} of an environment where the admin has no role',
      method: 'PATCH',
      request: () => ({ url: `${API}/environments/${otherEnv}`, body: { restrictMachineRegistration: false } }),
      expect: { admin: 404, owner: 404, coOwner: 404, user: 404, stranger: 403, machine: 403, none: 401 },
    },
    {
      name: 'GET /environments/{id}/role-assignments',
      method: 'GET',
      request: () => ({ url: `${API}/environments/${env}/role-assignments` }),
      expect: { admin: 200, owner: 403, coOwner: 403, user: 403, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: 'PUT /environments/{id}/role-assignments/{userId}',
      method: 'PUT',
      request: () => ({ url: `${API}/environments/${env}/role-assignments/${target.id}`, body: { roles: ['MachineUser'] } }),
      expect: { admin: 200, owner: 403, coOwner: 403, user: 403, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: 'POST /environments/{id}/registration-tokens',
      method: 'POST',
      request: () => ({ url: `${API}/environments/${env}/registration-tokens`, body: {} }),
      expect: { admin: 201, owner: 201, coOwner: 201, user: 403, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: 'GET /environments/{id}/registration-tokens',
      method: 'GET',
      request: () => ({ url: `${API}/environments/${env}/registration-tokens` }),
      expect: { admin: 200, owner: 200, coOwner: 200, user: 200, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: "DELETE /environments/{id}/registration-tokens/{tokenId} (the admin's token)",
      method: 'DELETE',
      request: async () => ({ url: `${API}/environments/${env}/registration-tokens/${await registrationTokenOf(people.admin)}` }),
      expect: { admin: 204, owner: 404, coOwner: 404, user: 404, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: "DELETE /environments/{id}/registration-tokens/{tokenId} (the owner's token)",
      method: 'DELETE',
      request: async () => ({ url: `${API}/environments/${env}/registration-tokens/${await registrationTokenOf(people.owner)}` }),
      expect: { admin: 204, owner: 204, coOwner: 404, user: 404, stranger: 404, machine: 403, none: 401 },
    },
    {
      name: 'GET /audit-events',
      method: 'GET',
      request: () => ({ url: `${API}/audit-events` }),
      expect: { admin: 200, owner: 403, coOwner: 403, user: 403, stranger: 403, machine: 403, none: 401 },
    },
    {
      name: 'GET /audit-events?environmentId=',
      method: 'GET',
      request: () => ({ url: `${API}/audit-events?environmentId=${env}` }),
      expect: { admin: 200, owner: 403, coOwner: 403, user: 403, stranger: 404, machine: 403, none: 401 },
    },
  ];

  /** `GET /environments/{id}` from a row name such as `GET /environments/{id} (detail)`. */
  const routeOf = (row: Row) => row.name.replace(/\?.*$/, '').split(' ').slice(0, 2).join(' ');

  it('has a row for every identity route in the OpenAPI document', async () => {
    const spec = (await call(cloud.app, 'GET', '/openapi.json')).json() as { paths: Record<string, Record<string, unknown>> };
    const identityPaths = /^\/api\/v1\/(setup|auth|me|users|environments|audit-events)(\/|$)/;
    const documented = Object.entries(spec.paths)
      .filter(([path]) => identityPaths.test(path))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace('/api/v1', '')}`));
    expect(documented.length).toBeGreaterThan(10);
    expect(new Set(documented)).toEqual(new Set(rows.map(routeOf)));
  });

  for (const row of rows) {
    it(row.name, async () => {
      const mismatches: string[] = [];
      for (const actor of ACTORS) {
        const { url, body } = await row.request();
        const response = await call(cloud.app, row.method, url, { token: tokenOf(actor), body });
        if (response.statusCode !== row.expect[actor]) {
          mismatches.push(`${actor}: expected ${row.expect[actor]}, got ${response.statusCode} ${response.body.slice(0, 200)}`);
        }
        if (response.statusCode >= 400) {
          expect(response.headers['content-type'], `${actor} ${row.name}`).toMatch(/^application\/problem\+json/);
        }
      }
      expect(mismatches).toEqual([]);
    });
  }
});
