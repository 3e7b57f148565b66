// `identity: {key: PATH}` in a device's config, with a real `fieldlog device` process: a key
// kept outside the data folder (a read-only partition, a secure element's export) signs the
// log and no key is made in the data folder; a missing key file, or one open to others, stops
// the device at start with one line and exit code 2, before anything is written.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateIdentity, saveIdentity } from '../../src/log/signing.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-identity-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
afterEach(async () => {
  await killAll(running);
});

const start = startInto(running);

/**
 * A device that must refuse to start: its exit code and stderr, or, should it start after all
 * (its first line of output), a kill and the code -1 so that the test fails at once.
 */
async function refused(args: string[]): Promise<{ code: number | string; stderr: string }> {
  const p = start(args);
  const started = p.waitFor(/./, 120_000).then(() => -1);
  started.catch(() => {});
  const code = await Promise.race([p.exited, started]);
  if (code === -1) await p.stop('SIGKILL');
  return { code, stderr: p.stderr };
}

/** A device config with one line source and the given key file. */
function config(name: string, port: string, key: string): string {
  const file = join(root, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({ id: name, sources: [{ name: 'line', driver: 'line', port }], identity: { key } }),
  );
  return file;
}

describe('the device config names its key file (identity.key)', () => {
  it('signs with the configured key and makes none in the data folder', async () => {
    const keys = join(root, 'secure');
    mkdirSync(keys);
    const key = join(keys, 'pi-cfg.key');
    const id = generateIdentity();
    saveIdentity(key, id);
    const sim = start(['sim', 'line', '--pty', '--rate', '20']);
    const port = await sim.waitFor(/^\//);
    const cfg = config('pi-cfg', port, key);
    const dir = join(root, 'pi-cfg');
    const dev = start(['device', '--config', cfg, '--data', dir, '--no-ui']);
    await dev.waitFor(/line connected/);
    await expect(dev.stop('SIGTERM')).resolves.toBe(0);
    expect(dev.stderr).toBe('');
    expect(existsSync(join(dir, 'device.key'))).toBe(false);

    const keysFile = join(root, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ 'pi-cfg': id.publicKey }));
    const v = await runCli(['log', 'verify', dir, '--keys', keysFile, '--json']);
    expect(v.code, v.stdout).toBe(0);
    const report = JSON.parse(v.stdout.trim()) as {
      head: { seq: number };
      signatures: { lastSigned: number };
    };
    expect(report.signatures).toMatchObject({ publicKey: id.publicKey, keys: 1, unsignedTail: null });
    expect(report.signatures.lastSigned).toBe(report.head.seq);

    // `device key show --config` finds the same file
    const shown = await runCli(['device', 'key', 'show', '--config', cfg, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({
      device: 'pi-cfg',
      alg: 'ed25519',
      publicKey: id.publicKey,
      fingerprint: id.fingerprint,
      keyFile: key,
    });
  });

  it('stops at start with one line, exit 2, when the key file is missing', async () => {
    const key = join(root, 'nowhere', 'pi-missing.key');
    const dir = join(root, 'pi-missing');
    const r = await refused(['device', '--config', config('pi-missing', '/dev/null', key), '--data', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toBe(`fieldlog: device key file ${key} does not exist [KEY_FILE_INVALID]\n`);
    expect(existsSync(dir)).toBe(false);
  });

  it('stops at start with one line, exit 2, when the key file is open to others', async () => {
    const key = join(root, 'pi-wide.key');
    saveIdentity(key, generateIdentity());
    chmodSync(key, 0o644);
    const dir = join(root, 'pi-wide');
    const r = await refused(['device', '--config', config('pi-wide', '/dev/null', key), '--data', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/open to others \(mode 0644\); run chmod 600 .*\[KEY_FILE_INVALID\]$/m);
    expect(r.stderr).not.toMatch(/PRIVATE KEY/);
    expect(existsSync(dir)).toBe(false);
  });
});
