import { defineConfig } from 'vitest/config';

// The keytar suite against a real Secret Service. `npm test` runs it under dbus-run-session
// with a throwaway gnome-keyring (scripts/test.mjs); the plain `vitest run` leaves it out so a
// developer's own keychain is never touched by accident.
export default defineConfig({
  test: {
    include: ['electron/test/**/*.keychain.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
