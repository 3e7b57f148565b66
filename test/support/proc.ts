// Real `fieldlog` processes for system tests: start, wait for a line, signal, await exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './cli.js';

export interface Proc {
  child: ChildProcess;
  lines: string[];
  stderr: string;
  /** Resolves with the first stdout line (seen so far or later) matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** `runner`: the command that runs Node.js (e.g. qemu with an arm64 node); this Node.js by default. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, runner = [process.execPath]): Proc {
  const child = spawn(runner[0]!, [...runner.slice(1), CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  const proc: Proc = {
    child,
    lines,
    stderr: '',
    waitFor(re, timeoutMs = 20_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no line matching ${re} within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${proc.stderr}`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    exited: new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? -1))),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return proc.exited;
    },
  };
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.re.test(line)) {
          waiters[i]!.resolve(line);
          waiters.splice(i, 1);
        }
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    proc.stderr += d.toString();
  });
  return proc;
}

/** A `start` that keeps each process it starts in `list`, for `killAll` after each test. */
export function startInto(list: Proc[]): (args: string[]) => Proc {
  return (args) => {
    const p = startCli(args);
    list.push(p);
    return p;
  };
}

/** Kill (SIGKILL: they are throw-away) and forget every process in `list`. */
export async function killAll(list: Proc[]): Promise<void> {
  await Promise.all(list.splice(0).map((p) => p.stop('SIGKILL')));
}
