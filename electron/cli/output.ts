/** How the CLI speaks: aligned tables and one sentence per result for people, JSON for scripts. */
import type { Writable } from 'node:stream';

export interface Output {
  json: boolean;
  /** A result: one sentence for people, or the JSON document for `--json`. */
  result(sentence: string, data: unknown): void;
  /** A table for people, or the rows as JSON. */
  table<T>(rows: T[], columns: { header: string; value: (row: T) => string }[], emptySentence: string): void;
  /** Progress on stderr (never mixed into stdout, so `--json` stays parseable). */
  progress(line: string): void;
  /** An error sentence with its code on stderr. */
  error(message: string, code: string): void;
}

export function createOutput(json: boolean, stdout: Writable = process.stdout, stderr: Writable = process.stderr): Output {
  return {
    json,
    result(sentence, data) {
      if (json) stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      else stdout.write(`${sentence}\n`);
    },
    table(rows, columns, emptySentence) {
      if (json) {
        stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        stdout.write(`${emptySentence}\n`);
        return;
      }
      stdout.write(formatTable(rows, columns));
    },
    progress(line) {
      stderr.write(`${line}\n`);
    },
    error(message, code) {
      if (json) stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
      stderr.write(`error: ${message} (${code})\n`);
    },
  };
}

export function formatTable<T>(rows: T[], columns: { header: string; value: (row: T) => string }[]): string {
  const cells = rows.map((row) => columns.map((column) => column.value(row).replace(/\s+/g, ' ')));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}
