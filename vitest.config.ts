import { defineConfig } from 'vitest/config';

// Unit and integration suites. Each cloud test file builds its own app on its own database
// (in-memory PGlite, or a fresh PostgreSQL database when TEST_DATABASE_URL is set).
export default defineConfig({
  test: {
    include: ['protocol/**/*.test.ts', 'cloud/test/**/*.test.ts', 'electron/test/**/*.test.ts', 'renderer/**/*.test.{ts,tsx}'],
    // *.keychain.test.ts use the real OS keychain: scripts/test.mjs runs them on a throwaway one.
    exclude: ['**/node_modules/**', 'e2e/**', '**/*.keychain.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
