/** The runtime's version, from package.json (reported in hello, status and the app). */
import { readFileSync } from 'node:fs';

export const RUNTIME_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
