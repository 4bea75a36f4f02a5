/**
 * Malformed requests to every identity route: unknown fields, wrong types, oversized strings,
 * malformed JSON, missing bodies, bad ids and query strings. Always 400 ValidationFailed as
 * problem+json, never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';

const API = '/api/v1';
const LONG = 'x'.repeat(5000);
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Case {
  name: string;
  method: Method;
  url: string;
  /** A JSON value, or a raw string sent as it is (malformed JSON). */
  body?: unknown;
  raw?: string;
  contentType?: string;
}

describe(`identity bad input (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let admin: FixtureUser;
  let env: string;
  const cases: Case[] = [];

  beforeAll(async () => {
    cloud = await buildCloud();
    env = await createEnvironment(cloud.db);
    admin = await createUser(cloud.db, env, 'Admin', ['EnvironmentAdmin']);
  });
  afterAll(async () => cloud?.close());

  /** The usual malformations of a JSON-body route, given one valid body. */
  function bodyCases(method: Method, route: string, url: () => string, valid: Record<string, unknown>, stringField?: string) {
    const name = `${method} ${route}`;
    const list: (() => Case)[] = [
      () => ({ name: `${name}: unknown field`, method, url: url(), body: { ...valid, isAdmin: true } }),
      () => ({ name: `${name}: malformed JSON`, method, url: url(), raw: '{"email": ', contentType: 'application/json' }),
      () => ({ name: `${name}: empty JSON body`, method, url: url(), raw: '', contentType: 'application/json' }),
      () => ({ name: `${name}: no body`, method, url: url() }),
      () => ({ name: `${name}: an array`, method, url: url(), body: [valid] }),
      () => ({ name: `${name}: a string`, method, url: url(), raw: '"hello"', contentType: 'application/json' }),
    ];
    if (stringField) {
      list.push(() => ({ name: `${name}: ${stringField} oversized`, method, url: url(), body: { ...valid, [stringField]: LONG } }));
      list.push(() => ({ name: `${name}: ${stringField} a number`, method, url: url(), body: { ...valid, [stringField]: 42 } }));
      list.push(() => ({ name: `${name}: ${stringField} null`, method, url: url(), body: { ...valid, [stringField]: null } }));
    }
    return list;
  }

  const builders: (() => Case)[] = [];
  const add = (...more: (() => Case)[]) => builders.push(...more);

  add(...bodyCases('POST', '/setup', () => `${API}/setup`, { email: 'a@example.test', password: 'long enough', displayName: 'A' }, 'displayName'));
  add(
    () => ({ name: 'POST /setup: bad email', method: 'POST', url: `${API}/setup`, body: { email: 'not-an-email', password: 'long enough', displayName: 'A' } }),
    () => ({ name: 'POST /setup: short password', method: 'POST', url: `${API}/setup`, body: { email: 'a@example.test', password: 'short', displayName: 'A' } }),
    () => ({ name: 'POST /setup: empty display name', method: 'POST', url: `${API}/setup`, body: { email: 'a@example.test', password: 'long enough', displayName: '' } }),
  );
  add(...bodyCases('POST', '/auth/token', () => `${API}/auth/token`, { grant_type: 'password', email: 'a@example.test', password: 'x' }, 'password'));
  add(
    () => ({ name: 'POST /auth/token: unknown grant', method: 'POST', url: `${API}/auth/token`, body: { grant_type: 'client_credentials' } }),
    () => ({ name: 'POST /auth/token: password grant without password', method: 'POST', url: `${API}/auth/token`, body: { grant_type: 'password', email: 'a@example.test' } }),
    () => ({ name: 'POST /auth/token: refresh grant, token oversized', method: 'POST', url: `${API}/auth/token`, body: { grant_type: 'refresh_token', refresh_token: LONG } }),
    () => ({ name: 'POST /auth/token: jwt-bearer grant, assertion oversized', method: 'POST', url: `${API}/auth/token`, body: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: LONG } }),
    () => ({ name: 'POST /auth/token: form with unknown field', method: 'POST', url: `${API}/auth/token`, raw: 'grant_type=password&email=a%40b.c&password=x&scope=all', contentType: 'application/x-www-form-urlencoded' }),
    () => ({ name: 'POST /auth/token: empty form', method: 'POST', url: `${API}/auth/token`, raw: '', contentType: 'application/x-www-form-urlencoded' }),
  );
  add(...bodyCases('POST', '/auth/logout', () => `${API}/auth/logout`, { refresh_token: 'mrrt_x' }, 'refresh_token'));
  add(...bodyCases('POST', '/users', () => `${API}/users`, { email: 'b@example.test', displayName: 'B', password: 'long enough' }, 'email'));
  add(
    () => ({ name: 'POST /users: unknown role', method: 'POST', url: `${API}/users`, body: { email: 'b@example.test', displayName: 'B', password: 'long enough', roles: ['Superuser'] } }),
    () => ({ name: 'POST /users: duplicate roles', method: 'POST', url: `${API}/users`, body: { email: 'b@example.test', displayName: 'B', password: 'long enough', roles: ['MachineUser', 'MachineUser'] } }),
    () => ({ name: 'POST /users: environmentId not a uuid', method: 'POST', url: `${API}/users`, body: { email: 'b@example.test', displayName: 'B', password: 'long enough', environmentId: 'default' } }),
    () => ({ name: 'GET /users: search oversized', method: 'GET', url: `${API}/users?search=${'a'.repeat(101)}` }),
    () => ({ name: 'GET /users: unknown query parameter', method: 'GET', url: `${API}/users?search=a&all=true` }),
  );
  add(...bodyCases('PATCH', '/environments/{id}', () => `${API}/environments/${env}`, { restrictMachineRegistration: true }, 'name'));
  add(
    () => ({ name: 'PATCH /environments/{id}: empty object', method: 'PATCH', url: `${API}/environments/${env}`, body: {} }),
    () => ({ name: 'PATCH /environments/{id}: flag as a string', method: 'PATCH', url: `${API}/environments/${env}`, body: { restrictMachineRegistration: 'yes' } }),
    () => ({ name: 'PATCH /environments/{id}: id not a uuid', method: 'PATCH', url: `${API}/environments/default`, body: { restrictMachineRegistration: true } }),
    () => ({ name: 'GET /environments/{id}/role-assignments: id not a uuid', method: 'GET', url: `${API}/environments/1/role-assignments` }),
  );
  add(...bodyCases('PUT', '/environments/{id}/role-assignments/{userId}', () => `${API}/environments/${env}/role-assignments/${admin.id}`, { roles: ['EnvironmentAdmin'] }));
  add(
    () => ({ name: 'PUT role-assignments: roles not an array', method: 'PUT', url: `${API}/environments/${env}/role-assignments/${admin.id}`, body: { roles: 'EnvironmentAdmin' } }),
    () => ({ name: 'PUT role-assignments: unknown role', method: 'PUT', url: `${API}/environments/${env}/role-assignments/${admin.id}`, body: { roles: ['EnvironmentAdmin', 'Root'] } }),
    () => ({ name: 'PUT role-assignments: userId not a uuid', method: 'PUT', url: `${API}/environments/${env}/role-assignments/me`, body: { roles: [] } }),
  );
  add(
    () => ({ name: 'POST registration-tokens: unknown field', method: 'POST', url: `${API}/environments/${env}/registration-tokens`, body: { maxUses: 1, token: 'mine' } }),
    () => ({ name: 'POST registration-tokens: maxUses a string', method: 'POST', url: `${API}/environments/${env}/registration-tokens`, body: { maxUses: '5' } }),
    () => ({ name: 'POST registration-tokens: negative expiry', method: 'POST', url: `${API}/environments/${env}/registration-tokens`, body: { expiresInSeconds: -1 } }),
    () => ({ name: 'POST registration-tokens: huge expiry', method: 'POST', url: `${API}/environments/${env}/registration-tokens`, body: { expiresInSeconds: 1e12 } }),
    () => ({ name: 'POST registration-tokens: malformed JSON', method: 'POST', url: `${API}/environments/${env}/registration-tokens`, raw: '{maxUses: 1}', contentType: 'application/json' }),
    () => ({ name: 'DELETE registration-tokens: tokenId not a uuid', method: 'DELETE', url: `${API}/environments/${env}/registration-tokens/abc` }),
    () => ({ name: 'GET /audit-events: limit too large', method: 'GET', url: `${API}/audit-events?limit=100000` }),
    () => ({ name: 'GET /audit-events: limit not a number', method: 'GET', url: `${API}/audit-events?limit=ten` }),
    () => ({ name: 'GET /audit-events: before negative', method: 'GET', url: `${API}/audit-events?before=-5` }),
    () => ({ name: 'GET /audit-events: unknown parameter', method: 'GET', url: `${API}/audit-events?action=x` }),
    () => ({ name: 'GET /audit-events: environmentId not a uuid', method: 'GET', url: `${API}/audit-events?environmentId=x` }),
  );

  it('answers every malformed request with 400 ValidationFailed problem+json', async () => {
    cases.push(...builders.map((build) => build()));
    expect(cases.length).toBeGreaterThan(60);
    const failures: string[] = [];
    for (const c of cases) {
      const headers: Record<string, string> = { authorization: `Bearer ${admin.token}` };
      let payload: string | undefined;
      if (c.raw !== undefined) {
        payload = c.raw;
        headers['content-type'] = c.contentType ?? 'application/json';
      } else if (c.body !== undefined) {
        payload = JSON.stringify(c.body);
        headers['content-type'] = 'application/json';
      }
      const response = await cloud.app.inject({ method: c.method, url: c.url, headers, ...(payload !== undefined ? { payload } : {}) });
      const problem = response.headers['content-type']?.toString().startsWith('application/problem+json') ? response.json() : null;
      if (response.statusCode !== 400 || problem?.code !== 'ValidationFailed') {
        failures.push(`${c.name}: ${response.statusCode} ${response.body.slice(0, 160)}`);
      }
    }
    expect(failures).toEqual([]);
    // Nothing was created by any of them.
    const users = await cloud.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    expect(users[0]!.n).toBe(1);
  });
});
