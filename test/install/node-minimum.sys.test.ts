// The Node.js minimum in package.json is true: the `fieldlog` command runs its whole import graph
// and real work on exactly that release, and on the release before it says so in one line.
// Real Node.js builds from the npm registry (test/support/node-builds.ts), the built CLI.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMinimum, nodeBuild, releaseBefore } from '../support/node-builds.js';

const BIN = fileURLToPath(new URL('../../bin/fieldlog.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const MINIMUM = engineMinimum(fileURLToPath(new URL('../../package.json', import.meta.url)));
// Downloading a build (about 40 MB) the first time can take a while on a slow line.
const DOWNLOAD_MS = 600_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(node: string, args: string[], input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const root = mkdtempSync(join(tmpdir(), 'fieldlog-node-min-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe(`on Node.js ${MINIMUM}, the stated minimum`, () => {
  let node = '';
  beforeAll(async () => {
    node = await nodeBuild(MINIMUM);
  }, DOWNLOAD_MS);
  const fieldlog = (args: string[], input?: string) => exec(node, [BIN, ...args], input);

  it('is the Node.js it says', async () => {
    await expect(exec(node, ['--version'])).resolves.toMatchObject({ code: 0, stdout: `v${MINIMUM}\n` });
  });

  it('prints the usage, and nothing on stderr', async () => {
    const r = await fieldlog(['--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage:\nfieldlog demo /);
  });

  it('appends, verifies, prints and folds a log, with hashes the current Node.js agrees with', async () => {
    const dir = join(root, 'log');
    const events = [
      { type: 'NoteAdded', data: { text: 'fan replaced' }, meta: { actor: 'operator:ana' } },
      {
        type: 'ReadingRecorded',
        data: { source: 'node-1', sensor: 'temp', value: 21.5, unit: 'C' },
        meta: { actor: 'sensor:node-1' },
      },
    ];
    const input = events.map((e) => `${JSON.stringify(e)}\n`).join('');
    const append = await fieldlog(['log', 'append', dir, '--device', 'pi-01'], input);
    expect(append).toMatchObject({ code: 0, stderr: '' });

    const verify = await fieldlog(['log', 'verify', dir]);
    expect(verify).toMatchObject({ code: 0, stderr: '' });
    expect(verify.stdout).toMatch(
      /^pi-01: ok, 2 events, head 2 [0-9a-f]{64}\n {2}unsigned \(no device key\)\n$/,
    );

    const cat = await fieldlog(['log', 'cat', dir]);
    expect(cat).toMatchObject({ code: 0, stderr: '' });
    const envelopes = cat.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(envelopes.map((e) => e.seq)).toEqual([1, 2]);
    // The hashes the old Node.js wrote, recomputed here from the README's definition.
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    for (const e of envelopes) {
      const { data, hash, ...header } = e;
      expect(e.digest).toBe(sha(canonicalize(data)!));
      expect(hash).toBe(sha(canonicalize(header)!));
    }
    expect(verify.stdout).toContain(envelopes[1]!.hash as string);

    const state = await fieldlog(['log', 'state', dir]);
    expect(state).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(state.stdout)).toMatchObject({
      device: 'pi-01',
      asOfSeq: 2,
      state: { sensors: { temp: { value: 21.5 } } },
    });
  });

  it('runs the demo (serial sources, Firmata, MQTT broker, hub, HTTP), stops on SIGINT, both logs verify', async () => {
    const data = join(root, 'demo');
    const demo = spawn(node, [BIN, 'demo', '--no-ui', '--data', data, '--http', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    demo.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => demo.on('close', resolve));
    // Every part has started once the Firmata board answered and the hub serves its API.
    const api = await new Promise<string>((resolve, reject) => {
      demo.stdout.on('data', (d) => {
        stdout += d;
        const url = /hub API (http:\/\/\S+)/.exec(stdout)?.[1];
        if (url !== undefined && /uno connected/.test(stdout) && /node is demo-node/.test(stdout))
          resolve(url);
      });
      demo.on('close', () => reject(new Error(`the demo ended early:\n${stdout}\n${stderr}`)));
    });
    const devices = (await (await fetch(api)).json()) as { devices: { device: string }[] };
    expect(devices.devices.map((d) => d.device)).toEqual(['demo-pi']);
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');

    const device = await fieldlog(['log', 'verify', join(data, 'device')]);
    const hub = await fieldlog(['log', 'verify', join(data, 'hub')]);
    expect(device).toMatchObject({ code: 0, stderr: '' });
    // the demo's device signs its log with the key it made at first start (as `fieldlog device`)
    expect(device.stdout).toMatch(
      /^demo-pi: ok, \d+ events, head \d+ [0-9a-f]{64}\n {2}signed by [0-9a-f:]{39} \(1 key\), last signature at seq \d+\n$/,
    );
    expect(hub).toMatchObject({ code: 0, stderr: '', stdout: device.stdout });
  });
});

describe('on the Node.js release before the minimum', () => {
  let node = '';
  let version = '';
  beforeAll(async () => {
    version = await releaseBefore(MINIMUM);
    node = await nodeBuild(version);
  }, DOWNLOAD_MS);

  it('cannot load the CLI at all: the minimum is not set too high', async () => {
    // a command that loads the log (--version alone now loads nothing that needs 20.12)
    const r = await exec(node, [CLI, 'log', 'verify', 'nowhere']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    // the command's modules load after the CLI's error handling exists: the SyntaxError of
    // a missing export is reported in one line, and it is crypto.hash that sets the minimum
    expect(r.stderr).toMatch(/does not provide an export named 'hash'/);
  });

  it.each(['--help', '--version', 'log verify nowhere', 'demo --no-ui'])(
    '`fieldlog %s` says which Node.js it needs in one line, exit 2',
    async (command) => {
      const r = await exec(node, [BIN, ...command.split(' ')]);
      expect(r).toEqual({
        code: 2,
        stdout: '',
        stderr: `fieldlog: needs Node.js >= ${MINIMUM}, this is ${version}\n`,
      });
    },
  );
});

describe('on an old Node.js that Linux distributions still ship (Ubuntu 22.04: 12.22)', () => {
  it(
    'the guard still parses and says the same one line',
    async () => {
      const node = await nodeBuild('12.22.12');
      await expect(exec(node, [BIN, '--help'])).resolves.toEqual({
        code: 2,
        stdout: '',
        stderr: `fieldlog: needs Node.js >= ${MINIMUM}, this is 12.22.12\n`,
      });
    },
    DOWNLOAD_MS,
  );
});
