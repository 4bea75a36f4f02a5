/**
 * Bad input on every machine and machine-group route: unknown fields, wrong types, oversized
 * strings, malformed JSON, bad uuids, unknown query parameters, and route-specific nonsense
 * (keys of the wrong length, bad signatures, oversized bundles). Always 400 ValidationFailed
 * (or another 4xx) as problem+json; never a 500; and nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { injectSender, machineRegistration, registerMachine, type Send, type TestMachine } from './group-client.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Route {
  method: Method;
  /** With `:group`, `:machine`, `:user` placeholders. */
  path: string;
  as: 'user' | 'machine';
  /** A body that would be accepted (the base for the malformed variants). */
  body?: Record<string, unknown>;
  /** Extra malformed bodies specific to this route. */
  bad?: Record<string, unknown>[];
  query?: boolean;
}

const KEY = Buffer.alloc(32, 1).toString('base64');
const PROOF = { nonce: 'A'.repeat(43), signature: `${'A'.repeat(86)}==` };
const BUNDLE = Buffer.from('{"v":1}'.repeat(10)).toString('base64');

const ROUTES: Route[] = [
  {
    method: 'POST',
    path: '/api/v1/machines',
    as: 'user',
    body: machineRegistration('valid-shape', { description: 'd' }),
    bad: [
      { ...machineRegistration('x'), signingPublicKey: Buffer.alloc(33, 1).toString('base64') },
      { ...machineRegistration('x'), encryptionPublicKey: Buffer.alloc(16, 1).toString('base64') },
      { ...machineRegistration('x'), signingPublicKey: `${'!'.repeat(43)}=` },
      { ...machineRegistration('x'), fingerprint: 'F'.repeat(64) },
      { ...machineRegistration('x'), name: '   ' },
      { ...machineRegistration('x'), name: '' },
      { ...machineRegistration('x'), environmentId: 'default' },
      { name: 'missing keys' },
    ],
  },
  { method: 'GET', path: '/api/v1/machines', as: 'user', query: true },
  { method: 'GET', path: '/api/v1/machines/:machine', as: 'user' },
  {
    method: 'PATCH',
    path: '/api/v1/machines/:machine',
    as: 'user',
    body: { name: 'n', description: 'd', maintenance: true },
    bad: [{ name: '\t ' }, { maintenance: 'yes' }, { name: null }],
  },
  { method: 'DELETE', path: '/api/v1/machines/:machine', as: 'user' },
  { method: 'GET', path: '/api/v1/machine-groups', as: 'user', query: true },
  {
    method: 'POST',
    path: '/api/v1/machine-groups',
    as: 'user',
    body: { name: 'n', description: 'd' },
    bad: [{ name: ' ' }, { description: 'no name' }, { name: 'x', environmentId: 12 }],
  },
  { method: 'GET', path: '/api/v1/machine-groups/:group', as: 'user' },
  {
    method: 'PATCH',
    path: '/api/v1/machine-groups/:group',
    as: 'user',
    body: { name: 'n', description: 'd', maintenance: false },
    bad: [{ name: '' }, { maintenance: 1 }],
  },
  { method: 'DELETE', path: '/api/v1/machine-groups/:group', as: 'user' },
  { method: 'GET', path: '/api/v1/machine-groups/:group/machines', as: 'user' },
  { method: 'DELETE', path: '/api/v1/machine-groups/:group/machines/:machine', as: 'user' },
  { method: 'GET', path: '/api/v1/machine-groups/:group/access', as: 'user' },
  {
    method: 'PUT',
    path: '/api/v1/machine-groups/:group/access/:user',
    as: 'user',
    body: { access: 'User' },
    bad: [{ access: 'Owner' }, { access: 'coowner' }, {}],
  },
  { method: 'DELETE', path: '/api/v1/machine-groups/:group/access/:user', as: 'user' },
  { method: 'GET', path: '/api/v1/machine-groups/:group/key-bundle', as: 'user' },
  {
    method: 'POST',
    path: '/api/v1/machine-groups/:group/challenges',
    as: 'machine',
    body: { purpose: 'join' },
    bad: [{ purpose: 'leave' }, {}],
  },
  {
    method: 'POST',
    path: '/api/v1/machine-groups/:group/members',
    as: 'machine',
    body: { ...PROOF, firstJoin: { keyBundle: BUNDLE, signingPublicKey: KEY, encryptionPublicKey: KEY } },
    bad: [
      { ...PROOF, nonce: 'A'.repeat(42) },
      { ...PROOF, nonce: `${'A'.repeat(42)}=` },
      { ...PROOF, signature: Buffer.alloc(63, 1).toString('base64') },
      { ...PROOF, signature: Buffer.alloc(65, 1).toString('base64') },
      { ...PROOF, firstJoin: { keyBundle: BUNDLE, signingPublicKey: Buffer.alloc(31, 1).toString('base64'), encryptionPublicKey: KEY } },
      { ...PROOF, firstJoin: { keyBundle: 'not base64 !', signingPublicKey: KEY, encryptionPublicKey: KEY } },
      { ...PROOF, firstJoin: { keyBundle: 'A'.repeat(4100), signingPublicKey: KEY, encryptionPublicKey: KEY } },
      { ...PROOF, firstJoin: { keyBundle: BUNDLE, signingPublicKey: KEY, encryptionPublicKey: KEY, password: 'never' } },
      { ...PROOF, firstJoin: { keyBundle: BUNDLE, signingPublicKey: KEY } },
      { nonce: PROOF.nonce },
    ],
  },
  {
    method: 'PUT',
    path: '/api/v1/machine-groups/:group/key-bundle',
    as: 'machine',
    body: { ...PROOF, keyBundle: BUNDLE },
    bad: [{ ...PROOF }, { ...PROOF, keyBundle: '' }, { ...PROOF, keyBundle: 'A'.repeat(5000) }],
  },
];

/** Wrong-typed values for a field whose valid value is `value`. */
function wrongTypes(value: unknown): unknown[] {
  if (typeof value === 'string') return [12345, true, null, ['a'], { a: 1 }];
  if (typeof value === 'boolean') return ['true', 0, null];
  if (typeof value === 'object' && value !== null) return ['object?', 7, []];
  return ['x', null];
}

describe(`bad input on machine and group routes (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let send: Send;
  let owner: FixtureUser;
  let other: FixtureUser;
  let machine: TestMachine;
  let groupId: string;
  let snapshot: string;

  const tableCounts = async () =>
    JSON.stringify(
      await cloud.db.query(
        `SELECT (SELECT count(*)::int FROM machines) AS machines, (SELECT count(*)::int FROM machine_groups) AS groups,
                (SELECT count(*)::int FROM group_access) AS access, (SELECT count(*)::int FROM join_challenges) AS challenges,
                (SELECT count(*)::int FROM audit_events) AS audit,
                (SELECT string_agg(name || description || maintenance::text, ',' ORDER BY id) FROM machine_groups) AS group_details,
                (SELECT string_agg(name || description || maintenance::text, ',' ORDER BY id) FROM machines) AS machine_details`,
      ),
    );

  beforeAll(async () => {
    cloud = await buildCloud();
    send = injectSender(cloud.app);
    const environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    other = await createUser(cloud.db, environmentId, 'Uma User', ['MachineUser']);
    machine = await registerMachine(send, cloud.db, owner.token, 'input-pc');
    groupId = (await send('POST', '/api/v1/machine-groups', { token: owner.token, body: { name: 'Input group' } })).body.id;
    await send('PUT', `/api/v1/machine-groups/${groupId}/access/${other.id}`, { token: owner.token, body: { access: 'User' } });
    snapshot = await tableCounts();
  });
  afterAll(async () => cloud?.close());

  const fill = (path: string, ids: Partial<Record<'group' | 'machine' | 'user', string>> = {}) =>
    path
      .replace(':group', ids.group ?? groupId)
      .replace(':machine', ids.machine ?? machine.id)
      .replace(':user', ids.user ?? other.id);

  async function expectRejected(
    route: Route,
    request: { url: string; payload?: string | object; headers?: Record<string, string> },
    label: string,
    code: string | null = 'ValidationFailed',
  ) {
    const token = route.as === 'machine' ? machine.token : owner.token;
    const response = await cloud.app.inject({
      method: route.method,
      url: request.url,
      headers: { authorization: `Bearer ${token}`, ...request.headers },
      ...(request.payload !== undefined ? { payload: request.payload } : {}),
    });
    const where = `${route.method} ${route.path} — ${label}: ${response.statusCode} ${response.body}`;
    expect(response.statusCode, where).toBeGreaterThanOrEqual(400);
    expect(response.statusCode, where).toBeLessThan(500);
    expect(response.headers['content-type'], where).toMatch(/^application\/problem\+json/);
    const problem = response.json();
    expect(problem, where).toMatchObject({ status: response.statusCode, title: expect.any(String), detail: expect.any(String) });
    expect(response.body, where).not.toMatch(/at .*\.ts:\d+/);
    if (code) expect(problem.code, where).toBe(code);
  }

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}`, async () => {
      // Bad uuids in every path parameter.
      for (const param of ['group', 'machine', 'user'] as const) {
        if (!route.path.includes(`:${param}`)) continue;
        for (const bad of ['not-a-uuid', '123', `${groupId}x`, "'; DROP TABLE machines; --"]) {
          await expectRejected(
            route,
            { url: fill(route.path, { [param]: encodeURIComponent(bad) }), ...(route.body ? { payload: route.body } : {}) },
            `${param}=${bad}`,
          );
        }
      }
      if (route.query) {
        await expectRejected(route, { url: `${fill(route.path)}?unexpected=1` }, 'unknown query parameter');
        await expectRejected(route, { url: `${fill(route.path)}?environmentId=nope` }, 'bad environmentId');
      }
      if (!route.body) return;
      const url = fill(route.path);
      await expectRejected(route, { url, payload: { ...route.body, unexpected: 'field' } }, 'unknown field');
      for (const [field, value] of Object.entries(route.body)) {
        for (const wrong of wrongTypes(value)) {
          await expectRejected(route, { url, payload: { ...route.body, [field]: wrong } }, `${field}=${JSON.stringify(wrong)}`);
        }
        if (typeof value === 'string') {
          await expectRejected(route, { url, payload: { ...route.body, [field]: 'x'.repeat(5000) } }, `${field} oversized`);
        }
      }
      for (const malformed of ['{"name": ', '{"a":1}}', 'null', '[1,2]', '"text"', '']) {
        await expectRejected(route, { url, payload: malformed, headers: { 'content-type': 'application/json' } }, `malformed ${malformed}`);
      }
      await expectRejected(route, { url, payload: 'name=x', headers: { 'content-type': 'text/plain' } }, 'not JSON', null);
      await expectRejected(
        route,
        { url, payload: JSON.stringify({ ...route.body, pad: 'x'.repeat(300 * 1024) }), headers: { 'content-type': 'application/json' } },
        'huge body',
        null,
      );
      for (const [i, bad] of (route.bad ?? []).entries()) await expectRejected(route, { url, payload: bad }, `specific #${i}: ${JSON.stringify(bad).slice(0, 120)}`);
    });
  }

  it('changed nothing', async () => {
    expect(await tableCounts()).toBe(snapshot);
  });
});
