/**
 * Identity flows through the real routes: setup (once, also when racing), password sign-in,
 * refresh-token rotation and replay, logout, users, roles, environments, the audit trail and
 * the sign-in rate limits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createUser, type FixtureUser } from './fixtures.ts';
import { defaultConfig } from '../src/config.ts';
import { issueRefreshToken } from '../src/identity/refresh-tokens.ts';

const API = '/api/v1';
const ADMIN = { email: 'Ada@Example.test', password: 'correct horse battery', displayName: 'Ada Admin' };

function passwordGrant(email: string, password: string) {
  return { grant_type: 'password', email, password };
}
function refreshGrant(refreshToken: string) {
  return { grant_type: 'refresh_token', refresh_token: refreshToken };
}

describe(`identity flows (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let clock = Date.now();
  let admin: { id: string; token: string; environmentId: string };

  beforeAll(async () => {
    cloud = await buildCloud({ now: () => new Date(clock) });
  });
  afterAll(async () => cloud?.close());

  /**
   * A new sign-in's refresh token, made by the same function password sign-in uses, without
   * a key derivation each time (the password path is tested on its own above).
   */
  const newSession = () => issueRefreshToken(cloud.db, admin.id, new Date(clock), defaultConfig().refreshTokenSeconds);

  it('sets up the first administrator once, also when two setups race', async () => {
    expect((await call(cloud.app, 'GET', `${API}/setup`)).json()).toEqual({ needsSetup: true });

    const [first, second] = await Promise.all([
      call(cloud.app, 'POST', `${API}/setup`, { body: ADMIN }),
      // Same email, so whichever wins, the rest of the suite signs in as ADMIN.
      call(cloud.app, 'POST', `${API}/setup`, { body: { ...ADMIN, displayName: 'Ada Twin' } }),
    ]);
    const statuses = [first.statusCode, second.statusCode].sort();
    expect(statuses).toEqual([201, 409]);
    const created = first.statusCode === 201 ? first : second;
    const refused = first.statusCode === 201 ? second : first;
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ code: 'AlreadySetUp', status: 409 });

    const body = created.json();
    expect(body).toMatchObject({
      user: { id: expect.any(String), email: ADMIN.email },
      environment: { id: expect.any(String), name: 'Default' },
      token_type: 'Bearer',
      expires_in: defaultConfig().accessTokenSeconds,
      access_token: expect.any(String),
      refresh_token: expect.stringMatching(/^mrrt_/),
    });
    admin = { id: body.user.id, token: body.access_token, environmentId: body.environment.id };
    ADMIN.displayName = body.user.displayName;

    expect((await call(cloud.app, 'GET', `${API}/setup`)).json()).toEqual({ needsSetup: false });
    const again = await call(cloud.app, 'POST', `${API}/setup`, { body: { ...ADMIN, email: 'third@example.test' } });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('AlreadySetUp');
    const users = await cloud.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    expect(users[0]!.n).toBe(1);
    const environments = await cloud.db.query<{ n: number }>('SELECT count(*)::int AS n FROM environments');
    expect(environments[0]!.n).toBe(1);
  });

  it('shows the administrator their default environment and role on /me', async () => {
    const me = await call(cloud.app, 'GET', `${API}/me`, { token: admin.token });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({
      id: admin.id,
      email: ADMIN.email,
      displayName: ADMIN.displayName,
      environments: [
        { id: admin.environmentId, name: 'Default', roles: ['EnvironmentAdmin'], isDefault: true, restrictMachineRegistration: false, mayRegisterMachines: true, mayCreateGroups: true },
      ],
    });
  });

  it('signs in with a password (email case-insensitive), as JSON or as an OAuth form', async () => {
    const json = await call(cloud.app, 'POST', `${API}/auth/token`, { body: passwordGrant('ada@EXAMPLE.test', ADMIN.password) });
    expect(json.statusCode).toBe(200);
    expect(json.headers['cache-control']).toBe('no-store');
    const tokens = json.json();
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, refresh_token: expect.stringMatching(/^mrrt_/) });
    expect((await call(cloud.app, 'GET', `${API}/me`, { token: tokens.access_token })).json().id).toBe(admin.id);

    const form = await cloud.app.inject({
      method: 'POST',
      url: `${API}/auth/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(passwordGrant(ADMIN.email, ADMIN.password)).toString(),
    });
    expect(form.statusCode).toBe(200);
    expect(form.json().refresh_token).not.toBe(tokens.refresh_token);
  });

  it('refuses a wrong password and an unknown email alike (same answer, similar time)', async () => {
    const timed = async (email: string, password: string) => {
      const started = performance.now();
      const response = await call(cloud.app, 'POST', `${API}/auth/token`, { body: passwordGrant(email, password) });
      return { response, ms: performance.now() - started };
    };
    const wrong = await timed(ADMIN.email, 'not the password');
    const unknown = await timed('nobody@example.test', 'not the password');
    for (const { response } of [wrong, unknown]) {
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(unknown.response.json()).toEqual(wrong.response.json());
    expect(wrong.response.json()).toMatchObject({ code: 'Unauthorized', detail: 'The email or password is incorrect.' });
    // Both run one scrypt derivation (~0.3 s); a missing account must not answer in a blink.
    expect(unknown.ms).toBeGreaterThan(wrong.ms / 3);
  });

  it('rotates refresh tokens; replaying a used one revokes the whole family, newest included', async () => {
    const r1 = await newSession();
    const otherSession = await newSession();

    const second = await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(r1) });
    expect(second.statusCode).toBe(200);
    const r2 = second.json().refresh_token as string;
    expect(r2).toMatch(/^mrrt_/);
    expect(r2).not.toBe(r1);
    expect((await call(cloud.app, 'GET', `${API}/me`, { token: second.json().access_token })).statusCode).toBe(200);
    const third = await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(r2) });
    expect(third.statusCode).toBe(200);
    const r3 = third.json().refresh_token as string;

    // r1 was used already: someone copied it. The family is revoked, r3 included.
    const replay = await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(r1) });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('Unauthorized');
    const newest = await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(r3) });
    expect(newest.statusCode).toBe(401);

    // Another sign-in's family is untouched.
    const other = await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(otherSession) });
    expect(other.statusCode).toBe(200);

    const audit = await cloud.db.query<{ action: string; target_id: string }>(
      `SELECT action, target_id FROM audit_events WHERE action = 'refreshToken.replayDetected'`,
    );
    expect(audit).toEqual([{ action: 'refreshToken.replayDetected', target_id: admin.id }]);
    // Only hashes are stored.
    const stored = await cloud.db.query<{ token_hash: string }>('SELECT token_hash FROM refresh_tokens');
    expect(stored.map((row) => row.token_hash)).not.toContain(r3);
  });

  it('treats two simultaneous uses of one refresh token as a replay', async () => {
    const refresh_token = await newSession();
    const answers = await Promise.all([
      call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(refresh_token) }),
      call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(refresh_token) }),
    ]);
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 401]);
    const winner = answers.find((answer) => answer.statusCode === 200)!.json();
    expect((await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(winner.refresh_token) })).statusCode).toBe(401);
  });

  it('signs out: the refresh token and its family stop working', async () => {
    const rotated = (await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(await newSession()) })).json();
    const logout = await call(cloud.app, 'POST', `${API}/auth/logout`, { body: { refresh_token: rotated.refresh_token } });
    expect(logout.statusCode).toBe(204);
    expect(logout.body).toBe('');
    expect((await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(rotated.refresh_token) })).statusCode).toBe(401);
    // Unknown tokens: nothing to do, same answer (no oracle).
    expect((await call(cloud.app, 'POST', `${API}/auth/logout`, { body: { refresh_token: 'mrrt_unknown' } })).statusCode).toBe(204);
  });

  it('refuses an expired refresh token', async () => {
    const session = await newSession();
    const saved = clock;
    clock += (defaultConfig().refreshTokenSeconds + 60) * 1000;
    try {
      const expired = await call(cloud.app, 'POST', `${API}/auth/token`, { body: refreshGrant(session) });
      expect(expired.statusCode).toBe(401);
    } finally {
      clock = saved;
    }
  });

  it('lets an admin create users who can then sign in; emails are unique case-insensitively', async () => {
    const created = await call(cloud.app, 'POST', `${API}/users`, {
      token: admin.token,
      body: { email: 'bob@example.test', displayName: 'Bob Builder', password: 'bobs password', roles: ['MachineOwner'] },
    });
    expect(created.statusCode).toBe(201);
    const bob = created.json();
    expect(bob).toEqual({ id: expect.any(String), email: 'bob@example.test', displayName: 'Bob Builder' });

    const signIn = await call(cloud.app, 'POST', `${API}/auth/token`, { body: passwordGrant('bob@example.test', 'bobs password') });
    expect(signIn.statusCode).toBe(200);
    const me = (await call(cloud.app, 'GET', `${API}/me`, { token: signIn.json().access_token })).json();
    expect(me.environments).toEqual([expect.objectContaining({ id: admin.environmentId, roles: ['MachineOwner'] })]);

    const duplicate = await call(cloud.app, 'POST', `${API}/users`, {
      token: admin.token,
      body: { email: 'BOB@example.TEST', displayName: 'Bob Again', password: 'another password' },
    });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().code).toBe('EmailTaken');

    const audit = await cloud.db.query<{ detail: { email: string } }>(
      `SELECT detail FROM audit_events WHERE action = 'user.created' AND target_id = $1`,
      [bob.id],
    );
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain('bobs password');
  });

  it('finds people by email or display name, case-insensitively, at most 20', async () => {
    for (let i = 0; i < 22; i++) await createUser(cloud.db, admin.environmentId, `Searchable Person ${i}`, []);
    await createUser(cloud.db, admin.environmentId, 'Percent 100% Sure', []);

    const search = async (term: string) =>
      (await call(cloud.app, 'GET', `${API}/users?search=${encodeURIComponent(term)}`, { token: admin.token })).json() as {
        email: string;
        displayName: string;
      }[];
    expect(await search('searchable person')).toHaveLength(20);
    expect((await search('BUILDER')).map((u) => u.email)).toEqual(['bob@example.test']);
    expect((await search('bob@exa')).map((u) => u.displayName)).toEqual(['Bob Builder']);
    // LIKE wildcards are matched literally.
    expect((await search('100%')).map((u) => u.displayName)).toEqual(['Percent 100% Sure']);
    expect(await search('_')).toEqual([]);
    expect(await search('nobody-like-this')).toEqual([]);
  });

  it('replaces role assignments and never removes the last Environment Admin', async () => {
    const carol = await createUser(cloud.db, admin.environmentId, 'Carol', ['MachineUser']);
    const put = await call(cloud.app, 'PUT', `${API}/environments/${admin.environmentId}/role-assignments/${carol.id}`, {
      token: admin.token,
      body: { roles: ['MachineUserCanShare', 'EnvironmentMaker'] },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({
      user: { id: carol.id, email: carol.email, displayName: 'Carol' },
      roles: ['EnvironmentMaker', 'MachineUserCanShare'],
    });
    const list = (await call(cloud.app, 'GET', `${API}/environments/${admin.environmentId}/role-assignments`, { token: admin.token })).json();
    expect(list).toContainEqual({ user: { id: carol.id, email: carol.email, displayName: 'Carol' }, roles: ['EnvironmentMaker', 'MachineUserCanShare'] });

    const selfDemotion = await call(cloud.app, 'PUT', `${API}/environments/${admin.environmentId}/role-assignments/${admin.id}`, {
      token: admin.token,
      body: { roles: ['MachineOwner'] },
    });
    expect(selfDemotion.statusCode).toBe(409);
    expect(selfDemotion.json().code).toBe('LastAdmin');
    expect((await call(cloud.app, 'GET', `${API}/me`, { token: admin.token })).json().environments[0].roles).toEqual(['EnvironmentAdmin']);

    // Two admins demoting each other at the same moment: one of them stays admin.
    const dave = await createUser(cloud.db, admin.environmentId, 'Dave', ['EnvironmentAdmin']);
    const answers = await Promise.all([
      call(cloud.app, 'PUT', `${API}/environments/${admin.environmentId}/role-assignments/${dave.id}`, { token: admin.token, body: { roles: [] } }),
      call(cloud.app, 'PUT', `${API}/environments/${admin.environmentId}/role-assignments/${admin.id}`, { token: dave.token, body: { roles: [] } }),
    ]);
    const admins = await cloud.db.query<{ user_id: string }>(
      `SELECT user_id FROM role_assignments WHERE environment_id = $1 AND role = 'EnvironmentAdmin'`,
      [admin.environmentId],
    );
    expect(admins).toHaveLength(1);
    // The row lock serialises them: the first wins, the second caller is no longer in the environment.
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 404]);
    if (admins[0]!.user_id !== admin.id) {
      // Dave won: give Ada her role back so the rest of the suite keeps its admin.
      await cloud.db.query(`INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, 'EnvironmentAdmin')`, [
        admin.environmentId,
        admin.id,
      ]);
    }

    const unknownUser = await call(
      cloud.app,
      'PUT',
      `${API}/environments/${admin.environmentId}/role-assignments/00000000-0000-4000-8000-000000000000`,
      { token: admin.token, body: { roles: ['MachineUser'] } },
    );
    expect(unknownUser.statusCode).toBe(404);

    const audit = await cloud.db.query<{ detail: unknown }>(
      `SELECT detail FROM audit_events WHERE action = 'roles.replaced' AND target_id = $1`,
      [carol.id],
    );
    expect(audit.map((row) => row.detail)).toEqual([{ before: ['MachineUser'], after: ['EnvironmentMaker', 'MachineUserCanShare'] }]);
  });

  it('lets an admin restrict machine registration in an environment', async () => {
    const patch = await call(cloud.app, 'PATCH', `${API}/environments/${admin.environmentId}`, {
      token: admin.token,
      body: { restrictMachineRegistration: true },
    });
    expect(patch.statusCode).toBe(200);
    expect(patch.json()).toMatchObject({ id: admin.environmentId, restrictMachineRegistration: true, isDefault: true, name: 'Default' });
    const list = (await call(cloud.app, 'GET', `${API}/environments`, { token: admin.token })).json();
    expect(list).toEqual([
      { id: admin.environmentId, name: 'Default', isDefault: true, restrictMachineRegistration: true, roles: ['EnvironmentAdmin'], mayRegisterMachines: true, mayCreateGroups: true },
    ]);
    await call(cloud.app, 'PATCH', `${API}/environments/${admin.environmentId}`, { token: admin.token, body: { restrictMachineRegistration: false } });
  });

  it('reads the audit trail newest first, in pages', async () => {
    const all = await call(cloud.app, 'GET', `${API}/audit-events?limit=200`, { token: admin.token });
    expect(all.statusCode).toBe(200);
    const events = all.json() as { id: number; at: string; action: string; actor: { type: string; id: string } }[];
    const actions = events.map((event) => event.action);
    expect(actions[0]).toBe('environment.updated');
    expect(actions.at(-1)).toBe('server.setUp');
    for (const expected of ['user.created', 'roles.replaced', 'refreshToken.replayDetected']) expect(actions).toContain(expected);
    expect(events.map((event) => event.id)).toEqual([...events.map((event) => event.id)].sort((a, b) => b - a));
    expect(events[0]).toMatchObject({
      at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      actor: { type: 'user', id: admin.id },
      target: { type: 'environment', id: admin.environmentId },
      detail: { restrictMachineRegistration: false },
    });

    const page1 = (await call(cloud.app, 'GET', `${API}/audit-events?limit=2`, { token: admin.token })).json();
    const page2 = (await call(cloud.app, 'GET', `${API}/audit-events?limit=2&before=${page1[1].id}`, { token: admin.token })).json();
    expect([...page1, ...page2].map((event: { id: number }) => event.id)).toEqual(events.slice(0, 4).map((event) => event.id));
    // Nothing secret in the trail.
    expect(JSON.stringify(events)).not.toContain(ADMIN.password);
  });
});

describe(`sign-in rate limits (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  // At the start of a 15-minute window, so the attempts below share one window.
  let clock = Math.floor(Date.now() / 900_000) * 900_000 + 1000;
  const limits = { ...defaultConfig().rateLimits, signInPerAccount: 2, signInPerAddress: 3 };
  // Fixture accounts have no usable password hash: wrong guesses at them cost no key derivation.
  let limited: FixtureUser;
  let others: FixtureUser[];

  beforeAll(async () => {
    cloud = await buildCloud({ now: () => new Date(clock), rateLimits: limits });
    const setup = await call(cloud.app, 'POST', `${API}/setup`, { body: ADMIN });
    expect(setup.statusCode).toBe(201);
    const environment = setup.json().environment.id as string;
    limited = await createUser(cloud.db, environment, 'Limited', []);
    others = [];
    for (let i = 0; i < limits.signInPerAddress + 1; i++) others.push(await createUser(cloud.db, environment, `Other ${i}`, []));
  });
  afterAll(async () => cloud?.close());

  const attempt = (email: string, password: string, remoteAddress: string) =>
    cloud.app.inject({ method: 'POST', url: `${API}/auth/token`, remoteAddress, payload: passwordGrant(email, password) });

  it('limits attempts per account, from any address, until the window passes', async () => {
    for (let i = 0; i < limits.signInPerAccount; i++) {
      expect((await attempt(limited.email, 'wrong guess', `10.0.1.${i}`)).statusCode).toBe(401);
    }
    const refused = await attempt(limited.email.toUpperCase(), 'another guess', '10.0.2.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ code: 'RateLimited', status: 429 });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(refused.json().retryAfter).toBe(retryAfter);

    // Another account is not affected: the administrator signs in with the right password.
    expect((await attempt(ADMIN.email, ADMIN.password, '10.0.2.2')).statusCode).toBe(200);

    clock += retryAfter * 1000;
    expect((await attempt(limited.email, 'wrong guess', '10.0.2.3')).statusCode).toBe(401);
  });

  it('limits attempts per client address across accounts', async () => {
    for (let i = 0; i < limits.signInPerAddress; i++) {
      expect((await attempt(others[i]!.email, 'guess', '192.0.2.7')).statusCode).toBe(401);
    }
    const refused = await attempt(others[limits.signInPerAddress]!.email, 'guess', '192.0.2.7');
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // The same account from another address is not limited.
    expect((await attempt(others[limits.signInPerAddress]!.email, 'guess', '192.0.2.8')).statusCode).toBe(401);
  });
});
