// Writing to stdout with backpressure, a closed pipe (`| head`) ending quietly, and any
// other write error (a full disk) failing the command instead of vanishing.
import type { Writable } from 'node:stream';
import { fail } from '../errors.js';

export interface Output {
  line(text: string): Promise<void>;
}

export class PipeClosed extends Error {}

/** Words for the errno codes a user meets when writing. */
export function writeErrorText(err: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EPERM: 'not permitted',
    EISDIR: 'it is a folder',
    ENOENT: 'no such folder',
    ENOTDIR: 'a part of the path is not a folder',
    EIO: 'input/output error',
    EFBIG: 'file too large',
  };
  const code = err.code ?? 'error';
  return `${words[code] ?? err.message} (${code})`;
}

export function streamOutput(stream: Writable, name = 'stdout'): Output & { flush(): Promise<void> } {
  let closed = false;
  let failed: NodeJS.ErrnoException | null = null;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') closed = true;
    else failed ??= err;
  });
  const check = () => {
    if (closed) throw new PipeClosed();
    if (failed) throw fail('OUTPUT_FAILED', `cannot write to ${name}: ${writeErrorText(failed)}`, failed);
  };
  return {
    async line(text: string): Promise<void> {
      check();
      if (!stream.write(`${text}\n`)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            stream.off('drain', done);
            stream.off('error', done);
            stream.off('close', done);
            resolve();
          };
          stream.on('drain', done);
          stream.on('error', done);
          stream.on('close', done);
        });
        check();
      }
    },
    /** Resolves once everything written so far is out, or fails as line() does. */
    async flush(): Promise<void> {
      check();
      await new Promise<void>((resolve) =>
        stream.write('', (err?: NodeJS.ErrnoException | null) => {
          if (err && err.code !== 'EPIPE') failed ??= err;
          resolve();
        }),
      );
      check();
    },
  };
}

/** Collects lines in memory (tests). */
export function memoryOutput(): Output & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    async line(text: string) {
      lines.push(text);
    },
  };
}
