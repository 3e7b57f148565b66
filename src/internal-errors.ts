// Internal errors (a bug, a store that fails under a running process) are reported one
// way everywhere: one line each, the stack only under DEBUG=fieldlog, and a count per
// place that /metrics exposes. The same error object is one error; the same message at
// the same place right after itself is counted but not printed again. A process that catches one and keeps running reports it
// here, so that nothing it survives goes unseen.
import { isFieldlogError } from './errors.js';

export interface InternalErrors {
  /** Report one error caught at `where` (a short name: `http`, `recorder`, `ingest`, ...). */
  report(where: string, err: unknown): void;
  /** Errors reported so far, per place. */
  readonly counts: ReadonlyMap<string, number>;
}

export interface InternalErrorsOptions {
  /** Where the line goes (default: stderr). */
  write?: (line: string) => void;
  /** Print the stack too (default: when DEBUG names fieldlog). */
  debug?: boolean;
  now?: () => Date;
}

/** Whether DEBUG asks for fieldlog's stack traces (`DEBUG=fieldlog`, `fieldlog:*`, ...). */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.DEBUG?.includes('fieldlog') ?? false;
}

export function internalErrors(opts: InternalErrorsOptions = {}): InternalErrors {
  const write = opts.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const debug = opts.debug ?? debugEnabled();
  const now = opts.now ?? (() => new Date());
  const counts = new Map<string, number>();
  // one failed batch rejects every append waiting on it with the same error object:
  // that is one error, reported once
  const seen = new WeakSet<object>();
  let previous = '';
  return {
    counts,
    report(where, err) {
      if (typeof err === 'object' && err !== null) {
        if (seen.has(err)) return;
        seen.add(err);
      }
      counts.set(where, (counts.get(where) ?? 0) + 1);
      const message = err instanceof Error ? err.message : String(err);
      const code = isFieldlogError(err) ? ` [${err.code}]` : '';
      // one line: a message with line breaks (a driver's) must not look like several errors
      const what = `internal error in ${where}: ${message.replace(/\s*\n\s*/g, ' ')}${code}`;
      // the same error again (a failing disk under every write) is counted, not printed again
      if (what === previous) return;
      previous = what;
      let line = `${now().toISOString()} ${what}`;
      if (debug && err instanceof Error && err.stack) line += `\n${err.stack}`;
      try {
        write(line);
      } catch {
        // the report must never become a second failure (a closed stderr)
      }
    },
  };
}
