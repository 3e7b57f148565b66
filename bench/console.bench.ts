// The device with its console on a real terminal (tmux, 100×30) at 200 readings/s: CPU
// share of one core and RSS, against the same device headless (--no-ui) in the same run.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from './report.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const TICK = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function simPty(): Promise<{ child: ChildProcess; port: string }> {
  // 67 frames/s × 3 sensors ≈ 200 readings/s
  const child = spawn(process.execPath, [CLI, 'sim', 'line', '--pty', '--rate', '67'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(line.trim());
    });
  });
  return { child, port };
}

/** The node process whose command line matches (not the shell tmux started it from). */
function pidOf(pattern: string): number | null {
  let pids: number[] = [];
  try {
    pids = execFileSync('pgrep', ['-f', '--', pattern], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      if (
        readlinkSync(`/proc/${pid}/exe`) === process.execPath ||
        /node$/.test(readlinkSync(`/proc/${pid}/exe`))
      )
        return pid;
    } catch {
      // gone already
    }
  }
  return null;
}

async function measure(ui: boolean, root: string, seconds: number): Promise<{ cpu: number; rss: number }> {
  const sim = await simPty();
  const data = join(root, ui ? 'ui' : 'headless');
  const tag = `bench-${ui ? 'ui' : 'headless'}-${process.pid}`;
  const args = `device --id ${tag} --data ${data} --driver line --port ${sim.port} --baud 115200${ui ? '' : ' --no-ui'}`;
  const session = `fieldlog-${tag}`;
  execFileSync('tmux', [
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '100',
    '-y',
    '30',
    `exec ${process.execPath} ${CLI} ${args}`,
  ]);
  try {
    let pid: number | null = null;
    for (let i = 0; i < 100 && pid === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pid = pidOf(`--id ${tag} `);
    }
    if (pid === null) throw new Error('the device did not start');
    await new Promise((r) => setTimeout(r, 3000)); // past start-up
    const t0 = cpuTicks(pid);
    const w0 = performance.now();
    let rss = 0;
    for (let s = 0; s < seconds; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      rss = Math.max(rss, rssBytes(pid));
    }
    const cpu = (cpuTicks(pid) - t0) / TICK / ((performance.now() - w0) / 1000);
    execFileSync('tmux', ['send-keys', '-t', session, ...(ui ? ['q'] : ['C-c'])]);
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    return { cpu, rss };
  } finally {
    try {
      execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    sim.child.kill('SIGTERM');
  }
}

export async function benchConsole(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const seconds = opts.quick ? 8 : 30;
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-ui-'));
  try {
    const headless = await measure(false, root, seconds);
    const ui = await measure(true, root, seconds);
    return [
      {
        name: 'console.cpu',
        value: ui.cpu * 100,
        unit: '% of one core',
        baseline: {
          name: 'the same device headless (--no-ui)',
          value: headless.cpu * 100,
          unit: '% of one core',
        },
        ratio: ui.cpu / headless.cpu,
        target: '<= 10 %',
        pass: ui.cpu <= 0.1,
      },
      {
        name: 'console.rss',
        value: ui.rss / 1e6,
        unit: 'MB',
        baseline: { name: 'the same device headless (--no-ui)', value: headless.rss / 1e6, unit: 'MB' },
        ratio: ui.rss / headless.rss,
        target: '<= 120 MB',
        pass: ui.rss <= 120e6,
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
