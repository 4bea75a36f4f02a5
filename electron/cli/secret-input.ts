/**
 * Secrets come from standard input or an interactive prompt, never from arguments (CONTRACT.md).
 * When stdin is not a terminal, the secrets are read one per line, in the order the command
 * names them. When it is a terminal, the prompt hides what is typed.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** Options that would carry a secret on the command line: refused with exit code 2. */
const SECRET_OPTIONS = /^--?(password|passwd|pass|pw|secret|token|registration-token|group-password|new-password|refresh-token|access-token)(=.*)?$/i;

export function secretOnCommandLine(argv: readonly string[]): string | null {
  for (const arg of argv) {
    if (arg === '--') break;
    if (SECRET_OPTIONS.test(arg)) return arg.split('=')[0]!;
  }
  return null;
}

export class SecretReader {
  private lines: string[] | null = null;

  constructor(
    private readonly input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown } = process.stdin,
    private readonly output: Writable = process.stderr,
  ) {}

  get interactive(): boolean {
    return Boolean(this.input.isTTY);
  }

  /** The next secret: the next line of piped stdin, or a hidden prompt on a terminal. */
  async read(prompt: string): Promise<string> {
    if (!this.interactive) {
      if (this.lines === null) this.lines = await readAllLines(this.input);
      const line = this.lines.shift();
      if (line === undefined || line.length === 0) {
        throw Object.assign(new Error(`expected ${prompt.replace(/:\s*$/, '').toLowerCase()} on standard input (one secret per line)`), {
          code: 'Usage',
        });
      }
      return line;
    }
    return promptHidden(this.input, this.output, prompt);
  }

  /** A new secret: on a terminal asked twice (they must match); piped, read once. */
  async readNew(prompt: string, confirmPrompt: string): Promise<string> {
    const first = await this.read(prompt);
    if (!this.interactive) return first;
    const second = await this.read(confirmPrompt);
    if (first !== second) throw Object.assign(new Error('the two entries do not match'), { code: 'Usage' });
    return first;
  }
}

async function readAllLines(input: Readable): Promise<string[]> {
  const lines: string[] = [];
  const reader = createInterface({ input, crlfDelay: Infinity, terminal: false });
  for await (const line of reader) lines.push(line.replace(/\r$/, ''));
  return lines;
}

function promptHidden(
  input: Readable & { setRawMode?: (raw: boolean) => unknown },
  output: Writable,
  prompt: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    // No echo before the prompt shows: a fast typist's first keys must not appear either.
    input.setRawMode?.(true);
    output.write(prompt);
    let value = '';
    input.resume();
    input.setEncoding('utf8');
    const finish = (error?: Error) => {
      input.setRawMode?.(false);
      input.pause();
      input.off('data', onData);
      output.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(Object.assign(new Error('cancelled'), { code: 'Cancelled' }));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    input.on('data', onData);
  });
}
