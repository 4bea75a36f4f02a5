/**
 * Key-bundle fetches and join attempts are rate-limited, each on its own, per caller (person, or
 * machine for a machine token) per minute and per group per hour (429 RateLimited with
 * Retry-After), with the cloud's clock injected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { fetchKeyBundle, injectSender, registerMachine, requestChallenge, type Send } from './group-client.ts';
import { TokenService } from '../src/auth/tokens.ts';

describe(`membership rate limits (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let send: Send;
  // 10 s into a minute (and into an hour), so the windows' ends are known.
  let now = new Date('2031-03-04T05:00:10.000Z');
  let owner: FixtureUser;
  let coOwner: FixtureUser;
  let groupId: string;
  let tokens: TokenService;
  /** Access tokens minted on the cloud's (injected) clock, valid for a day of it. */
  const userToken = (user: FixtureUser) => tokens.issue({ kind: 'user', userId: user.id });

  beforeAll(async () => {
    cloud = await buildCloud({
      now: () => now,
      // The default per-user limit (10 a minute); a small per-group limit to reach it quickly.
      rateLimits: { groupPerHour: 15, userPerMinute: 10, signInPerAccount: 10, signInPerAddress: 50 },
    });
    send = injectSender(cloud.app);
    const environmentId = await createEnvironment(cloud.db);
    tokens = await TokenService.load(cloud.db, 24 * 3600, () => now);
    owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    owner.token = await userToken(owner);
    coOwner = await createUser(cloud.db, environmentId, 'Cora CoOwner', ['MachineOwner']);
    coOwner.token = await userToken(coOwner);
    const group = await send('POST', '/api/v1/machine-groups', { token: owner.token, body: { name: 'Limited' } });
    groupId = group.body.id;
    await send('PUT', `/api/v1/machine-groups/${groupId}/access/${coOwner.id}`, { token: owner.token, body: { access: 'CoOwner' } });
  });
  afterAll(async () => cloud?.close());

  it('refuses the 11th bundle fetch in a minute by one user, then allows it in the next minute', async () => {
    for (let i = 1; i <= 10; i++) expect((await fetchKeyBundle(send, owner.token, groupId)).status, `fetch ${i}`).toBe(200);
    const limited = await fetchKeyBundle(send, owner.token, groupId);
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(limited.body).toMatchObject({ code: 'RateLimited', retryAfter: 50 });
    expect(limited.headers['retry-after']).toBe('50');

    // A machine acting for that user is counted on its own (a fleet enrolled by one person
    // must not be throttled as one person), and join attempts on their own: 10 a minute.
    const machine = await registerMachine(send, cloud.db, owner.token, 'limited-vm');
    machine.token = await tokens.issue({ kind: 'machine', machineId: machine.id });
    for (let i = 1; i <= 10; i++) expect(await requestChallenge(send, machine, groupId, 'join'), `challenge ${i}`).toMatch(/^[\w-]{43}$/);
    await expect(requestChallenge(send, machine, groupId, 'join')).rejects.toMatchObject({ reply: { status: 429 } });

    now = new Date(now.getTime() + 51_000);
    expect((await fetchKeyBundle(send, owner.token, groupId)).status).toBe(200);
  });

  it('refuses fetches beyond the per-group hourly limit, whoever asks', async () => {
    // So far the group counted 11 + 1 = 12 bundle fetches (refused ones count too); join
    // attempts are counted apart.
    for (let i = 13; i <= 15; i++) expect((await fetchKeyBundle(send, coOwner.token, groupId)).status, `fetch ${i}`).toBe(200);
    const limited = await fetchKeyBundle(send, coOwner.token, groupId);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(3000);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    now = new Date(now.getTime() + retryAfter * 1000);
    expect((await fetchKeyBundle(send, coOwner.token, groupId)).status).toBe(200);
  });

  it('does not count requests that are refused for lack of access', async () => {
    const [before] = await cloud.db.query<{ n: number }>(`SELECT coalesce(sum(hits), 0)::int AS n FROM rate_limit_windows`);
    const environmentId = (await cloud.db.query<{ id: string }>('SELECT id FROM environments LIMIT 1'))[0]!.id;
    const stranger = await createUser(cloud.db, environmentId, 'Sam Stranger', ['MachineOwner']);
    stranger.token = await userToken(stranger);
    for (let i = 0; i < 3; i++) expect((await fetchKeyBundle(send, stranger.token, groupId)).status).toBe(404);
    const [after] = await cloud.db.query<{ n: number }>(`SELECT coalesce(sum(hits), 0)::int AS n FROM rate_limit_windows`);
    expect(after!.n).toBe(before!.n);
  });
});
