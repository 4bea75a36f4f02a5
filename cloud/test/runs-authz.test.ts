/**
 * Authorization matrix for the connection, desktop-flow and run routes: every documented route ×
 * {admin, owner, co-owner, user, stranger, machine token, no token} → expected status, each cell
 * on fresh objects (a run queued by the group's owner, still waiting: no machine is online).
 *
 * The cast, in one environment: admin (Environment Admin); owner (Machine Owner; owns the group G);
 * coOwner (Machine Owner, Co-owner of G); user (Machine User, User of G); stranger (Machine Owner,
 * no access to G). The machine token is that of a machine in G. Connections are personal: each
 * caller queues with their own connection to G when they may have one, else with the owner's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine, shareGroup } from './runs-fixtures.ts';

const CALLERS = ['admin', 'owner', 'coOwner', 'user', 'stranger', 'machine', 'none'] as const;
type CallerName = (typeof CALLERS)[number];
type Person = Exclude<CallerName, 'machine' | 'none'>;

interface World {
  groupId: string;
  flowId: string;
  /** The owner's connection to G and a run queued with it. */
  connectionId: string;
  runId: string;
  /** Each person's own connection to G (absent for those who may not have one). */
  connectionOf: Partial<Record<Person, string>>;
}

interface Row {
  route: string;
  method: 'GET' | 'POST' | 'PATCH';
  path: (w: World) => string;
  body?: (w: World, caller: CallerName) => unknown;
  expect: Record<CallerName, number>;
}

const all = (status: number, overrides: Partial<Record<CallerName, number>> = {}): Record<CallerName, number> => ({
  admin: status,
  owner: status,
  coOwner: status,
  user: status,
  stranger: status,
  machine: 403,
  none: 401,
  ...overrides,
});

const ROWS: Row[] = [
  {
    route: 'POST /connections',
    method: 'POST',
    path: () => '/api/v1/connections',
    body: (w, caller) => ({ name: `conn-${caller}-${Math.random().toString(36).slice(2, 8)}`, target: { type: 'MachineGroup', id: w.groupId }, username: 'robot', password: 'pw-123456' }),
    expect: all(201, { stranger: 404 }),
  },
  { route: 'GET /connections', method: 'GET', path: () => '/api/v1/connections', expect: all(200) },
  {
    route: 'POST /desktop-flows',
    method: 'POST',
    path: () => '/api/v1/desktop-flows',
    body: (_w, caller) => ({ name: `flow-${caller}-${Math.random().toString(36).slice(2, 8)}`, runtime: 'node', script: 'console.log("{}")' }),
    expect: all(201),
  },
  { route: 'GET /desktop-flows', method: 'GET', path: () => '/api/v1/desktop-flows', expect: all(200) },
  {
    route: 'POST /runs',
    method: 'POST',
    path: () => '/api/v1/runs',
    body: (w, caller) => ({
      desktopFlowId: w.flowId,
      connectionId: (caller !== 'machine' && caller !== 'none' && w.connectionOf[caller]) || w.connectionId,
      runMode: 'Unattended',
    }),
    // The stranger has no connection to G and may not use the owner's: not found.
    expect: all(202, { stranger: 404 }),
  },
  { route: 'GET /runs', method: 'GET', path: (w) => `/api/v1/runs?groupId=${w.groupId}`, expect: all(200, { stranger: 404 }) },
  { route: 'GET /runs/{id}', method: 'GET', path: (w) => `/api/v1/runs/${w.runId}`, expect: all(200, { stranger: 404 }) },
  { route: 'GET /runs/{id}/logs', method: 'GET', path: (w) => `/api/v1/runs/${w.runId}/logs`, expect: all(200, { stranger: 404 }) },
  { route: 'GET /runs/{id}/events', method: 'GET', path: (w) => `/api/v1/runs/${w.runId}/events`, expect: all(200, { stranger: 404 }) },
  {
    route: 'PATCH /runs/{id}',
    method: 'PATCH',
    path: (w) => `/api/v1/runs/${w.runId}`,
    body: () => ({ priority: 'High' }),
    expect: all(200, { user: 403, stranger: 404 }),
  },
  { route: 'POST /runs/{id}/move-to-top', method: 'POST', path: (w) => `/api/v1/runs/${w.runId}/move-to-top`, expect: all(200, { user: 403, stranger: 404 }) },
  { route: 'POST /runs/{id}/cancel', method: 'POST', path: (w) => `/api/v1/runs/${w.runId}/cancel`, expect: all(200, { user: 403, stranger: 404 }) },
];

describe(`runs authorization matrix (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let environmentId: string;
  const cast = {} as Record<Person, FixtureUser>;
  let machineToken: string;

  beforeAll(async () => {
    cloud = await buildCloud();
    environmentId = await createEnvironment(cloud.db);
    cast.admin = await createUser(cloud.db, environmentId, 'Ada Admin', ['EnvironmentAdmin']);
    cast.owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    cast.coOwner = await createUser(cloud.db, environmentId, 'Cora CoOwner', ['MachineOwner']);
    cast.user = await createUser(cloud.db, environmentId, 'Uma User', ['MachineUser']);
    cast.stranger = await createUser(cloud.db, environmentId, 'Sam Stranger', ['MachineOwner']);
  });
  afterAll(async () => cloud?.close());

  const tokenOf = (caller: CallerName) => (caller === 'none' ? undefined : caller === 'machine' ? machineToken : cast[caller].token);

  async function world(): Promise<World> {
    const group = await createKeyedGroup(cloud.db, environmentId, cast.owner.id);
    await shareGroup(cloud.db, group.id, cast.coOwner.id, 'CoOwner');
    await shareGroup(cloud.db, group.id, cast.user.id, 'User');
    machineToken = (await createKeyedMachine(cloud.db, environmentId, cast.owner.id, { groupId: group.id })).token;
    const flow = await call(cloud.app, 'POST', '/api/v1/desktop-flows', {
      token: cast.owner.token,
      body: { name: `noop-${group.id.slice(0, 8)}`, runtime: 'shell', script: 'true' },
    });
    const connectionOf: World['connectionOf'] = {};
    for (const person of ['owner', 'admin', 'coOwner', 'user'] as const) {
      const connection = await call(cloud.app, 'POST', '/api/v1/connections', {
        token: cast[person].token,
        body: { name: `own-${group.id.slice(0, 8)}`, target: { type: 'MachineGroup', id: group.id }, username: 'robot', password: 'pw-123456' },
      });
      expect(connection.statusCode, connection.body).toBe(201);
      connectionOf[person] = connection.json().id;
    }
    const run = await call(cloud.app, 'POST', '/api/v1/runs', {
      token: cast.owner.token,
      body: { desktopFlowId: flow.json().id, connectionId: connectionOf.owner, runMode: 'Unattended' },
    });
    expect(run.statusCode, run.body).toBe(202);
    return { groupId: group.id, flowId: flow.json().id, connectionId: connectionOf.owner!, runId: run.json().id, connectionOf };
  }

  it('covers every connection, desktop-flow and run route in the OpenAPI document', async () => {
    const spec = (await call(cloud.app, 'GET', '/openapi.json')).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(spec.paths)
      .filter(([path]) => /^\/api\/v1\/(connections|desktop-flows|runs)(\/|$)/.test(path))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace('/api/v1', '')}`));
    expect(documented.sort()).toEqual(ROWS.map((row) => row.route).sort());
  });

  for (const row of ROWS) {
    it(row.route, async () => {
      const mismatches: string[] = [];
      for (const caller of CALLERS) {
        const w = await world(); // fresh objects per cell: one caller's change cannot decide another's answer
        const response = await call(cloud.app, row.method, row.path(w), { token: tokenOf(caller), body: row.body?.(w, caller) });
        if (response.statusCode !== row.expect[caller]) {
          mismatches.push(`${caller}: expected ${row.expect[caller]}, got ${response.statusCode} ${response.body.slice(0, 200)}`);
        }
        if (response.statusCode >= 400) expect(response.headers['content-type'], `${caller} ${row.route}`).toMatch(/^application\/problem\+json/);
      }
      expect(mismatches).toEqual([]);
    });
  }

  it('keeps runs of one environment out of another', async () => {
    const w = await world();
    const elsewhere = await createEnvironment(cloud.db, 'Elsewhere', false);
    const otherAdmin = await createUser(cloud.db, elsewhere, 'Other Admin', ['EnvironmentAdmin']);
    for (const [method, url] of [
      ['GET', `/api/v1/runs/${w.runId}`],
      ['GET', `/api/v1/runs/${w.runId}/events`],
      ['POST', `/api/v1/runs/${w.runId}/move-to-top`],
      ['POST', `/api/v1/runs/${w.runId}/cancel`],
    ] as const) {
      const response = await call(cloud.app, method, url, { token: otherAdmin.token });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await call(cloud.app, 'GET', `/api/v1/runs/${w.runId}`, { token: cast.owner.token })).json().status).toBe('Queued');
  });
});
