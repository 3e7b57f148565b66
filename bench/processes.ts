// What the fleet benchmarks share to run real processes: a mosquitto sized for hubs, waiting
// for a process to print a line, stopping one with SIGTERM, and a process's CPU time.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/support/mosquitto.js';

/** Resolves with the first match of `re` in what `stream` printed so far. */
export function lineOf(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child[stream]!.on('data', (d) => {
      text += d;
      const m = re.exec(text);
      if (m) resolve(m[0]);
    });
    child.once('close', (code) => reject(new Error(`exited ${code} before ${re}: ${text}`)));
  });
}

const TICK_US = 1e6 / 100; // USER_HZ

/** CPU time of process `pid` in µs (every thread), from /proc (Linux): user and system, or system alone. */
export function procCpuUs(pid: number, only?: 'system'): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (only === 'system' ? 0 : Number(rest[11])) * TICK_US + Number(rest[12]) * TICK_US;
}

/** SIGTERM, resolving once the process is gone. */
export function stop(child: ChildProcess): Promise<unknown> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

/** A mosquitto for a fleet: no queue limit for the hubs (the default 1,000 drops a busy hub's messages; see the README). */
export async function mosquitto(root: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const conf = join(root, 'mosquitto.conf');
  const user = process.getuid?.() === 0 ? 'user root\n' : '';
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n${user}`,
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await lineOf(child, 'stderr', /running|listen socket/);
  return { url: `mqtt://127.0.0.1:${port}`, child };
}
