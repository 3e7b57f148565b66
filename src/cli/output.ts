// Writing to stdout with backpressure, and a closed pipe (`| head`) ending quietly.
import type { Writable } from 'node:stream';

export interface Output {
  line(text: string): Promise<void>;
}

export class PipeClosed extends Error {}

export function streamOutput(stream: Writable): Output {
  let closed = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') closed = true;
  });
  return {
    async line(text: string): Promise<void> {
      if (closed) throw new PipeClosed();
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
      }
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
