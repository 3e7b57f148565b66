// Signed logs through the real `fieldlog` CLI: an old log verifies as before plus "unsigned";
// `log append` signs with DIR/device.key; `log verify` checks signatures, `--keys`, the
// unsigned tail and a bad signature; `device key show` and `device key rotate`; a key file
// open to others stops a command with one line.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attachIdentity, KEY_FILE } from '../../src/device/identity.js';
import { EventLog } from '../../src/log/event-log.js';
import { generateIdentity, loadIdentity, saveIdentity } from '../../src/log/signing.js';
import { runCli } from '../support/cli.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fieldlog-signed-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const notes = (n: number) =>
  `${Array.from({ length: n }, (_, i) => JSON.stringify({ type: 'NoteAdded', data: { text: `n${i}` } })).join('\n')}\n`;

async function append(dir: string, n: number) {
  return runCli(['log', 'append', dir, '--device', 'pi-01', '--batch', '3'], { input: notes(n) });
}

async function verifyJson(dir: string, ...extra: string[]) {
  const r = await runCli(['log', 'verify', dir, '--json', ...extra]);
  return { code: r.code, report: JSON.parse(r.stdout.trim().split('\n')[0]!), stderr: r.stderr };
}

describe('signed logs from the command line', () => {
  it('verifies an old log without keys as before, plus one line: unsigned', async () => {
    const dir = join(tempDir(), 'log');
    expect((await append(dir, 4)).code).toBe(0);
    const text = await runCli(['log', 'verify', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('pi-01: ok, 4 events');
    expect(text.stdout).toContain('unsigned (no device key)');
    const { code, report } = await verifyJson(dir);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, errors: [], signatures: null });
  });

  it('signs log append with DIR/device.key, shows the key, and checks it against --keys', async () => {
    const dir = join(tempDir(), 'log');
    expect((await append(dir, 2)).code).toBe(0); // an old, unsigned prefix
    const id = generateIdentity();
    saveIdentity(join(dir, KEY_FILE), id);
    expect((await append(dir, 7)).code).toBe(0);
    const { code, report } = await verifyJson(dir);
    expect(code).toBe(0);
    expect(report.signatures).toEqual({
      publicKey: id.publicKey,
      fingerprint: id.fingerprint,
      keys: 1,
      lastSigned: 10,
      unsignedTail: null,
    });

    const show = await runCli(['device', 'key', 'show', '--data', dir, '--json']);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      alg: 'ed25519',
      publicKey: id.publicKey,
      fingerprint: id.fingerprint,
    });

    const keys = join(tempDir(), 'keys.json');
    writeFileSync(keys, JSON.stringify({ 'pi-01': id.publicKey }));
    expect((await verifyJson(dir, '--keys', keys)).code).toBe(0);
    writeFileSync(keys, JSON.stringify({ 'pi-01': generateIdentity().publicKey }));
    const other = await verifyJson(dir, '--keys', keys);
    expect(other.code).toBe(1);
    expect(other.report.errors).toEqual([expect.objectContaining({ seq: 3, reason: 'key-unknown' })]);
    writeFileSync(keys, '{"pi-01": "not a key"}');
    const bad = await runCli(['log', 'verify', dir, '--keys', keys]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^fieldlog: .*\[CONFIG_INVALID\]\n$/);
  });

  it('reports key-unknown when --keys expects a key and the log has none', async () => {
    const dir = join(tempDir(), 'log');
    await append(dir, 2);
    const keys = join(tempDir(), 'keys.json');
    writeFileSync(keys, JSON.stringify({ 'pi-01': generateIdentity().publicKey }));
    const r = await verifyJson(dir, '--keys', keys);
    expect(r.code).toBe(1);
    expect(r.report.errors.map((e: { reason: string }) => e.reason)).toEqual(['key-unknown']);
  });

  it('reports the events appended without the key as the unsigned tail, with their range', async () => {
    const dir = join(tempDir(), 'log');
    await append(dir, 1);
    saveIdentity(join(dir, KEY_FILE), generateIdentity());
    await append(dir, 2);
    rmSync(join(dir, KEY_FILE));
    await append(dir, 3);
    const { code, report } = await verifyJson(dir);
    expect(code).toBe(1);
    expect(report.errors).toEqual([expect.objectContaining({ seq: 5, reason: 'unsigned-tail' })]);
    expect(report.signatures.unsignedTail).toEqual({ from: 5, to: 7 });
    const text = await runCli(['log', 'verify', dir]);
    expect(text.stdout).toContain('unsigned 5..7');
  });

  it('reports a signature by another key as bad-signature', async () => {
    const dir = join(tempDir(), 'log');
    const log = await EventLog.open(dir, { device: 'pi-01', create: true });
    await attachIdentity(log, join(dir, KEY_FILE), { create: true, warn: () => {} });
    await log.append({ type: 'NoteAdded', data: { text: 'mine' } });
    // a forger without the key signs with one of its own
    log.signWith({ identity: generateIdentity(), from: 1 });
    await log.append({ type: 'NoteAdded', data: { text: 'forged' } });
    await log.close();
    const { code, report } = await verifyJson(dir);
    expect(code).toBe(1);
    expect(report.errors).toEqual([
      expect.objectContaining({ seq: 3, reason: 'bad-signature' }),
      expect.objectContaining({ seq: 3, reason: 'unsigned-tail' }),
    ]);
  });

  it('rotates the key of a stopped device: signed by the old key, followed by verify and show', async () => {
    const dir = join(tempDir(), 'log');
    const old = generateIdentity();
    await append(dir, 1);
    saveIdentity(join(dir, KEY_FILE), old);
    await append(dir, 1);
    const r = await runCli(['device', 'key', 'rotate', '--data', dir, '--json']);
    expect(r.code).toBe(0);
    const rotated = JSON.parse(r.stdout);
    expect(rotated).toMatchObject({ device: 'pi-01', seq: 4 });
    expect(rotated.publicKey).not.toBe(old.publicKey);
    expect(loadIdentity(join(dir, KEY_FILE)).publicKey).toBe(rotated.publicKey);
    await append(dir, 2);
    const { code, report } = await verifyJson(dir);
    expect(code).toBe(0);
    expect(report.signatures).toMatchObject({ publicKey: rotated.publicKey, keys: 2, lastSigned: 6 });
    const keys = join(tempDir(), 'keys.json');
    writeFileSync(keys, JSON.stringify({ 'pi-01': old.publicKey }));
    expect((await verifyJson(dir, '--keys', keys)).code).toBe(0);
  });

  it('stops with one line when the key file is open to others or missing', async () => {
    const dir = join(tempDir(), 'log');
    await append(dir, 1);
    const path = join(dir, KEY_FILE);
    saveIdentity(path, generateIdentity());
    chmodSync(path, 0o644);
    const r = await append(dir, 1);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^fieldlog: device key file .* is open to others \(mode 0644\); run chmod 600 .*\[KEY_FILE_INVALID\]\n$/,
    );
    const show = await runCli(['device', 'key', 'show', '--data', join(tempDir(), 'none')]);
    expect(show.code).toBe(2);
    expect(show.stderr).toMatch(/does not exist \[KEY_FILE_INVALID\]\n$/);
    const rotate = await runCli(['device', 'key', 'rotate', '--data', join(tempDir(), 'none')]);
    expect(rotate.stderr.split('\n')).toHaveLength(2);
  });
});
