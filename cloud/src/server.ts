/**
 * `npm run cloud -- [--port N] [--host H] [--data-dir DIR]`: the only file that listens.
 * DATABASE_URL=postgres://… selects PostgreSQL; otherwise PGlite in the data folder.
 */
import { parseArgs } from 'node:util';
import { startCloud } from './start.ts';
import { defaultDataDir } from './paths.ts';

function fail(message: string): never {
  process.stderr.write(`machine-runtime cloud: ${message}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  }).values;
} catch (error) {
  fail(`${(error as Error).message}\nusage: npm run cloud -- [--port N] [--host H] [--data-dir DIR]`);
}

const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a number from 0 to 65535, not "${args.port}"`);

const databaseUrl = process.env.DATABASE_URL || undefined;
const dataDir = databaseUrl ? undefined : (args['data-dir'] ?? defaultDataDir());

try {
  const cloud = await startCloud({ port, host: args.host!, databaseUrl, dataDir, logLevel: args['log-level'] });
  process.stdout.write(`listening on ${cloud.url}\n`);
  process.stderr.write(databaseUrl ? 'database: PostgreSQL (DATABASE_URL)\n' : `database: PGlite in ${dataDir}\n`);
  const shutdown = (signal: string) => {
    process.stderr.write(`${signal}: shutting down\n`);
    const timer = setTimeout(() => process.exit(1), 10_000);
    timer.unref();
    cloud.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  const err = error as NodeJS.ErrnoException;
  if (err.code === 'EADDRINUSE') fail(`port ${port} on ${args.host} is already in use; pick another with --port`);
  fail(`could not start: ${err.message}`);
}
