/**
 * The cloud's REST contract (CONTRACT.md): request and response schemas (TypeBox, i.e. JSON
 * Schema) and the TypeScript types derived from them. The cloud validates and documents every
 * route with these; the runtime's cloud client is typed by them. One area per file under api/.
 */
export * from './api/common.ts';
export * from './api/identity.ts';
export * from './api/machines.ts';
export * from './api/groups.ts';
export * from './api/runs.ts';
