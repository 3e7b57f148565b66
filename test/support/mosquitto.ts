// A real mosquitto for system tests, on a free loopback port, that a test can kill and start
// again on the same port (the broker restarted mid-stream); and freePort for the processes
// that need a port chosen before they start.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A port free on 127.0.0.1 now (for a process that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface TestMosquitto {
  port: number;
  /** mqtt://127.0.0.1:<port> */
  url: string;
  /** SIGKILL (no goodbye to any client), resolves once it is gone. */
  kill(): Promise<void>;
  /** Start it again on the same port (after kill). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Start mosquitto with `extra` configuration lines (default: anonymous clients allowed). */
export async function startMosquitto(dir: string, extra = 'allow_anonymous true\n'): Promise<TestMosquitto> {
  const port = await freePort();
  const conf = join(dir, `mosquitto-${port}.conf`);
  // as root mosquitto would drop to its own user, who cannot read our temp folder
  const user = process.getuid?.() === 0 ? 'user root\n' : '';
  writeFileSync(conf, `listener ${port} 127.0.0.1\npersistence false\n${user}${extra}`);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const start = async (): Promise<void> => {
    const c = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    exited = new Promise((resolve) => c.on('exit', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      c.stderr!.on('data', (d) => {
        log += d;
        if (/running|Opening ipv4 listen socket/.test(log)) resolve();
      });
      c.on('exit', () => reject(new Error(`mosquitto exited: ${log}`)));
    });
  };
  const kill = async (): Promise<void> => {
    child?.kill('SIGKILL');
    child = null;
    await exited;
  };
  await start();
  return { port, url: `mqtt://127.0.0.1:${port}`, kill, start, stop: kill };
}
