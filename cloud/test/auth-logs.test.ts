/**
 * The structured logs never contain passwords or tokens: a cloud logging everything (trace)
 * to a captured stream goes through setup, sign-in, refresh, a failed sign-in, registration
 * tokens, a machine sign-in and logout; then the captured text is searched for every secret.
 */
import { Writable } from 'node:stream';
import { generateKeyPairSync } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import app, { LOG_REDACT_PATHS, serverOptions } from '../src/app.ts';
import { migrate } from '../src/db/migrate.ts';
import type { Database } from '../src/db/database.ts';
import { call, DATABASE_ENGINE, freshDatabase } from './helper.ts';
import { fingerprintOf, rawPublicKey, signMachineAssertion } from '../../electron/runtime/identity.ts';
import { JWT_BEARER_GRANT } from '../../protocol/machine-assertion.ts';

const API = '/api/v1';

describe(`logs keep secrets out (${DATABASE_ENGINE})`, () => {
  let server: FastifyInstance;
  let drop: () => Promise<void>;
  let db: Database;
  const lines: string[] = [];

  beforeAll(async () => {
    const database = await freshDatabase();
    drop = database.drop;
    db = database.db;
    await migrate(database.db);
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    server = Fastify(serverOptions({ level: 'trace', redact: LOG_REDACT_PATHS, stream }));
    await server.register(app, { db: database.db });
    await server.ready();
  });
  afterAll(async () => {
    await server?.close();
    await drop?.();
  });

  it('logs requests without passwords, access, refresh, registration or machine tokens', async () => {
    const password = 'Sup3r-Secret-Passphrase!';
    const secrets: string[] = [password];

    const setup = await call(server, 'POST', `${API}/setup`, { body: { email: 'ops@example.test', password, displayName: 'Ops' } });
    expect(setup.statusCode).toBe(201);
    const { access_token, refresh_token, environment } = setup.json();
    secrets.push(access_token, refresh_token);

    const signIn = await call(server, 'POST', `${API}/auth/token`, { body: { grant_type: 'password', email: 'ops@example.test', password } });
    expect(signIn.statusCode).toBe(200);
    secrets.push(signIn.json().access_token, signIn.json().refresh_token);

    const wrongPassword = `${password}-wrong`;
    secrets.push(wrongPassword);
    expect((await call(server, 'POST', `${API}/auth/token`, { body: { grant_type: 'password', email: 'ops@example.test', password: wrongPassword } })).statusCode).toBe(401);
    // A malformed request that echoes validation errors must not echo the secret either.
    const tooLong = `${password}${'!'.repeat(300)}`;
    expect((await call(server, 'POST', `${API}/auth/token`, { body: { grant_type: 'password', email: 'ops@example.test', password: tooLong } })).statusCode).toBe(400);

    const refreshed = await call(server, 'POST', `${API}/auth/token`, { body: { grant_type: 'refresh_token', refresh_token: signIn.json().refresh_token } });
    expect(refreshed.statusCode).toBe(200);
    secrets.push(refreshed.json().access_token, refreshed.json().refresh_token);

    const registration = await call(server, 'POST', `${API}/environments/${environment.id}/registration-tokens`, { token: access_token, body: {} });
    expect(registration.statusCode).toBe(201);
    secrets.push(registration.json().token);

    // A machine signs in with an assertion.
    const keys = generateKeyPairSync('ed25519');
    const fingerprint = fingerprintOf('log-test-host');
    const [row] = await db.query<{ id: string }>(
      `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash)
       VALUES ($1, $2, 'log-vm', $3, $3, $4) RETURNING id`,
      [environment.id, setup.json().user.id, rawPublicKey(keys.publicKey), fingerprint],
    );
    const assertion = await signMachineAssertion({ machineId: row!.id, fingerprint, privateKey: keys.privateKey });
    const machineSignIn = await call(server, 'POST', `${API}/auth/token`, { body: { grant_type: JWT_BEARER_GRANT, assertion } });
    expect(machineSignIn.statusCode).toBe(200);
    secrets.push(assertion, machineSignIn.json().access_token);

    expect((await call(server, 'GET', `${API}/me`, { token: refreshed.json().access_token })).statusCode).toBe(200);
    expect((await call(server, 'POST', `${API}/auth/logout`, { body: { refresh_token: refreshed.json().refresh_token } })).statusCode).toBe(204);

    const text = lines.join('');
    // The logger did log these requests (so the search below means something).
    expect(text).toContain('/api/v1/auth/token');
    expect(text).toContain('/api/v1/me');
    for (const secret of secrets) {
      expect(text.includes(secret), `a secret (${secret.slice(0, 6)}…) appears in the logs`).toBe(false);
    }
    // Nor the signature part of any JWT (in case a token were logged in pieces).
    for (const jwt of secrets.filter((s) => s.split('.').length === 3)) {
      expect(text).not.toContain(jwt.split('.')[2]);
    }
  });
});
