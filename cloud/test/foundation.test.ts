import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, freshDatabase, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { migrate, listMigrations } from '../src/db/migrate.ts';

describe(`cloud foundation (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  beforeAll(async () => {
    cloud = await buildCloud();
  });
  afterAll(async () => cloud?.close());

  it('answers health with the database engine in use', async () => {
    const response = await call(cloud.app, 'GET', '/api/v1/health');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', database: DATABASE_ENGINE });
  });

  it('answers an unknown route with problem+json NotFound', async () => {
    const response = await call(cloud.app, 'GET', '/api/v1/does-not-exist');
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: 404, code: 'NotFound' });
  });

  it('publishes an OpenAPI document and renders it at /docs', async () => {
    const spec = await call(cloud.app, 'GET', '/openapi.json');
    expect(spec.statusCode).toBe(200);
    expect(spec.json()).toMatchObject({ openapi: '3.1.0', paths: { '/api/v1/health': { get: expect.any(Object) } } });
    const docs = await call(cloud.app, 'GET', '/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });
});

describe(`migrations (${DATABASE_ENGINE})`, () => {
  it('apply each file once, also when two runs race', async () => {
    const database = await freshDatabase();
    try {
      const [first, second] = await Promise.all([migrate(database.db), migrate(database.db)]);
      expect([...first, ...second].sort()).toEqual(listMigrations().map((m) => m.name).sort());
      expect(await migrate(database.db)).toEqual([]);
      const rows = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows[0]?.n).toBe(listMigrations().length);
    } finally {
      await database.drop();
    }
  });
});
