#!/usr/bin/env node
// The `machine-runtime` command (package bin). The CLI is TypeScript run through tsx's loader,
// so the same sources serve the CLI, the tests and the app without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../electron/cli/main.ts');
