/**
 * Access tokens through the API: a token keeps working until it expires and not a second
 * longer, even after it has been used (and remembered as verified) many times; a token changed
 * in any byte, or signed with another key, never works.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { TokenService } from '../src/auth/tokens.ts';

const LIFETIME = 600;
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

describe(`access tokens (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let user: FixtureUser;
  let tokens: TokenService;

  beforeAll(async () => {
    cloud = await buildCloud({ now, accessTokenSeconds: LIFETIME });
    const environmentId = await createEnvironment(cloud.db);
    user = await createUser(cloud.db, environmentId, 'Token User', ['MachineOwner']);
    tokens = await TokenService.load(cloud.db, LIFETIME, now);
  });
  afterAll(async () => cloud?.close());

  const status = async (token: string) => (await call(cloud.app, 'GET', '/api/v1/desktop-flows', { token })).statusCode;

  it('accepts a token until it expires, however often it was used before, and refuses it after', async () => {
    clockOffsetMs = 0;
    const token = await tokens.issue({ kind: 'user', userId: user.id });
    for (let i = 0; i < 5; i++) expect(await status(token)).toBe(200);
    clockOffsetMs = (LIFETIME - 2) * 1000;
    expect(await status(token)).toBe(200);
    clockOffsetMs = (LIFETIME + 1) * 1000;
    expect(await status(token)).toBe(401);
    // A clock moved back (tests, or a corrected host clock): it verifies again in full.
    clockOffsetMs = 0;
    expect(await status(token)).toBe(200);
  });

  it('refuses a token altered in any part once the original was accepted, and one signed with another key', async () => {
    clockOffsetMs = 0;
    const token = await tokens.issue({ kind: 'user', userId: user.id });
    expect(await status(token)).toBe(200);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flip = (part: string) => part.slice(0, -2) + (part.at(-2) === 'A' ? 'B' : 'A') + part.at(-1);
    for (const altered of [`${flip(header)}.${payload}.${signature}`, `${header}.${flip(payload)}.${signature}`, `${header}.${payload}.${flip(signature)}`]) {
      expect(await status(altered)).toBe(401);
    }
    const foreign = await new SignJWT({ typ: 'user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer('machine-runtime')
      .setAudience('machine-runtime-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(randomBytes(32));
    expect(await status(foreign)).toBe(401);
  });
});
