// What a stranger does: clone the repository (committed files only), `npm ci`, run `npx fieldlog`;
// and what a Pi gets: the `npm pack` tarball installed globally, run from the prefix's bin/.
// Real git, real npm (the registry or its cache), no devDependencies in the installed package.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { npm } from '../support/node-builds.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
// Installing ~180 packages (and compiling johnny-five's optional serialport 8 where a compiler
// exists) takes a while on a slow line or a Pi; this is a guard against a hang, not a target.
const INSTALL_MS = 900_000;

const root = mkdtempSync(join(tmpdir(), 'fieldlog-package-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const clone = join(root, 'fieldlog');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
async function exec(file: string, args: string[], cwd: string, input?: string): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const child = execFile(file, args, { cwd, env }, () => {});
  child.stdin?.end(input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

const VERSION_LINE = /^fieldlog \d+\.\d+\.\d+\n$/;

describe('a fresh clone', () => {
  it(
    'runs `npx fieldlog` right after `npm ci`, and stays clean',
    async () => {
      // A clone of HEAD: what is committed, nothing that only this working copy has (dist/, data/).
      await run('git', ['clone', '--quiet', '--no-local', REPO, clone]);
      expect(existsSync(join(clone, 'dist'))).toBe(false);
      await npm(['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone);

      const version = await exec('npx', ['--no-install', 'fieldlog', '--version'], clone);
      expect(version).toMatchObject({ code: 0, stderr: '' });
      expect(version.stdout).toMatch(VERSION_LINE);
      const help = await exec('npx', ['--no-install', 'fieldlog', '--help'], clone);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      // Installing and building leaves no change to committed files (a bin's mode, a lockfile).
      expect((await run('git', ['status', '--porcelain'], { cwd: clone })).stdout).toBe('');
    },
    INSTALL_MS,
  );

  it(
    'packs into a tarball that installs globally and runs without devDependencies',
    async () => {
      expect(existsSync(join(clone, 'node_modules')), 'the clone test ran first').toBe(true);
      const tgz = (await npm(['pack', '--silent', '--pack-destination', root], clone))
        .trim()
        .split('\n')
        .at(-1)!;
      const files = (await run('tar', ['-tzf', join(root, tgz)])).stdout.split('\n');
      expect(files).toContain('package/bin/fieldlog.js');
      expect(files).toContain('package/dist/src/cli.js');
      expect(files).toContain('package/dist/firmware-sim/sim-command.js');
      expect(files).toContain('package/web/fleet.html');
      expect(files.filter((f) => f.startsWith('package/test/') || f.endsWith('.ts'))).toEqual([]);

      const prefix = join(root, 'prefix');
      await npm(
        ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(root, tgz)],
        root,
      );
      const installed = join(prefix, 'lib', 'node_modules', 'fieldlog', 'node_modules');
      for (const dev of ['typescript', 'vitest', '@biomejs', 'fast-check'])
        expect(readdirSync(installed), dev).not.toContain(dev);

      const fieldlog = join(prefix, 'bin', 'fieldlog');
      const work = mkdtempSync(join(root, 'work-'));
      const help = await exec(fieldlog, ['--help'], work);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toMatch(/^usage:\n/);
      const event = { type: 'NoteAdded', data: { text: 'installed' }, meta: { actor: 'operator:ana' } };
      const append = await exec(
        fieldlog,
        ['log', 'append', 'log', '--device', 'pi-01'],
        work,
        JSON.stringify(event),
      );
      expect(append).toMatchObject({ code: 0, stderr: '' });
      const verify = await exec(fieldlog, ['log', 'verify', 'log'], work);
      expect(verify).toMatchObject({ code: 0, stderr: '' });
      expect(verify.stdout).toMatch(
        /^pi-01: ok, 1 events, head 1 [0-9a-f]{64}\n {2}unsigned \(no device key\)\n$/,
      );
      // `--help` links every static import; the demo also loads what is required on first use
      // (johnny-five and firmata-io for the board) and runs the simulators from firmware-sim/.
      const demo = spawn(fieldlog, ['demo', '--no-ui', '--data', join(work, 'demo'), '--http', '0'], {
        cwd: work,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      demo.stderr.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((resolve) => demo.on('close', resolve));
      await new Promise<void>((resolve, reject) => {
        demo.stdout.on('data', (d) => {
          out += d;
          if (/uno connected/.test(out) && /node is demo-node/.test(out)) resolve();
        });
        demo.on('close', () => reject(new Error(`the demo ended early:\n${out}\n${err}`)));
      });
      // the installed hub serves its web page: web/ found beside dist/, uPlot and Leaflet
      // from the installed dependencies
      const api = /hub API (http:\/\/[^\s/]+)\/devices/.exec(out)![1]!;
      for (const path of [
        '/',
        '/device/demo-pi',
        '/assets/fleet.js',
        '/vendor/leaflet.js',
        '/vendor/uplot.min.js',
      ])
        expect((await fetch(api + path)).status, path).toBe(200);
      demo.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(err).toBe('');
      // the installed demo signs its device's log (the key made at first start), as the hub's copy
      for (const dir of ['device', 'hub']) {
        const signed = await exec(fieldlog, ['log', 'verify', join('demo', dir)], work);
        expect(signed).toMatchObject({ code: 0, stderr: '' });
        expect(signed.stdout).toMatch(
          /\n {2}signed by [0-9a-f:]{39} \(1 key\), last signature at seq \d+\n$/,
        );
      }
    },
    INSTALL_MS,
  );
});
