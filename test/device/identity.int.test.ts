// The device's identity on a real LevelDB log: the key is made at first start (0600) and
// recorded by DeviceKeyAdded before any signed event; the last event of every group commit is
// signed (one signature per commit); a rotation is signed by the old key and survives a failed
// write and a crash between the log's record and the key file's switch; a replaced key is
// recorded as an unsigned key change.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attachIdentity, KEY_FILE, rotateKey } from '../../src/device/identity.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { generateIdentity, KeyChain, loadIdentity, saveIdentity } from '../../src/log/signing.js';
import { reading } from '../log/helpers.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fieldlog-id-'));
  dirs.push(d);
  return d;
}
const open: EventLog[] = [];
async function openLog(dir: string): Promise<EventLog> {
  const log = await EventLog.open(dir, { device: 'pi-01', create: true });
  open.push(log);
  return log;
}
afterEach(async () => {
  for (const l of open.splice(0)) await l.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function all(log: EventLog): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events()) out.push(e);
  return out;
}

function judge(events: Envelope[]) {
  const chain = new KeyChain();
  return { verdicts: events.map((e) => chain.feed(e)), lastSigned: chain.lastSigned, keys: chain.keys };
}

const noWarn = (line: string) => {
  throw new Error(`unexpected warning: ${line}`);
};

describe('device identity', () => {
  it('makes a 0600 key at first start, records it, and signs the last event of each group commit', async () => {
    const dir = tempDir();
    const log = await openLog(dir);
    await log.append(reading('temp', 1)); // an old log's unsigned prefix
    const id = await attachIdentity(log, join(dir, KEY_FILE), { create: true, warn: noWarn });
    expect(id).not.toBeNull();
    expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600);
    // three group commits: one of 3 events, one of 1, one of 2 (appendMany)
    await Promise.all([
      log.append(reading('temp', 2)),
      log.append(reading('temp', 3)),
      log.append(reading('temp', 4)),
    ]);
    const one = await log.append(reading('temp', 5));
    expect(one.sig).toBeDefined();
    await log.appendMany([reading('temp', 6), reading('temp', 7)]);
    const events = await all(log);
    expect(events.map((e) => [e.seq, e.type, e.sig !== undefined])).toEqual([
      [1, 'ReadingRecorded', false],
      [2, 'DeviceKeyAdded', true],
      [3, 'ReadingRecorded', false],
      [4, 'ReadingRecorded', false],
      [5, 'ReadingRecorded', true],
      [6, 'ReadingRecorded', true],
      [7, 'ReadingRecorded', false],
      [8, 'ReadingRecorded', true],
    ]);
    expect(events[1]!.data).toEqual({ alg: 'ed25519', publicKey: id!.publicKey });
    const { verdicts, lastSigned } = judge(events);
    expect(verdicts.filter((v) => v.problem)).toEqual([]);
    expect(lastSigned).toBe(8);
  });

  it('goes on signing with the same key after a restart, without a second DeviceKeyAdded', async () => {
    const dir = tempDir();
    let log = await openLog(dir);
    const path = join(dir, KEY_FILE);
    await attachIdentity(log, path, { create: true, warn: noWarn });
    await log.close();
    log = await openLog(dir);
    await attachIdentity(log, path, { create: true, warn: noWarn });
    await log.append(reading('temp', 1));
    const events = await all(log);
    expect(events.map((e) => e.type)).toEqual(['DeviceKeyAdded', 'ReadingRecorded']);
    expect(judge(events).lastSigned).toBe(2);
    expect(log.signer()?.from).toBe(1);
  });

  it('records a replaced key file as a new DeviceKeyAdded, warning once', async () => {
    const dir = tempDir();
    const path = join(dir, KEY_FILE);
    let log = await openLog(dir);
    await attachIdentity(log, path, { create: true, warn: noWarn });
    await log.close();
    rmSync(path);
    saveIdentity(path, generateIdentity());
    log = await openLog(dir);
    const warnings: string[] = [];
    await attachIdentity(log, path, { create: true, warn: (l) => warnings.push(l) });
    await log.append(reading('temp', 1));
    expect(warnings).toHaveLength(1);
    const { verdicts } = judge(await all(log));
    expect(verdicts.map((v) => v.problem)).toEqual([undefined, 'key-change-unsigned', undefined]);
  });

  it('refuses to start on a key file open to others, and stays unsigned with no key and no create', async () => {
    const dir = tempDir();
    const path = join(dir, KEY_FILE);
    const log = await openLog(dir);
    expect(await attachIdentity(log, path, { create: false, warn: noWarn })).toBeNull();
    writeFileSync(path, generateIdentity().privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o644,
    });
    await expect(attachIdentity(log, path, { create: true, warn: noWarn })).rejects.toMatchObject({
      code: 'KEY_FILE_INVALID',
    });
    expect(log.head().seq).toBe(0);
  });
});

describe('key rotation', () => {
  it('records DeviceKeyRotated signed by the old key and signs with the new one after it', async () => {
    const dir = tempDir();
    const path = join(dir, KEY_FILE);
    const log = await openLog(dir);
    const old = await attachIdentity(log, path, { create: true, warn: noWarn });
    const next = await rotateKey(log, path);
    await log.append(reading('temp', 1));
    expect(loadIdentity(path).publicKey).toBe(next.publicKey);
    expect(existsSync(`${path}.next`)).toBe(false);
    const { verdicts, keys } = judge(await all(log));
    expect(verdicts).toEqual([
      { seq: 1, key: old!.publicKey, signed: true },
      { seq: 2, key: old!.publicKey, signed: true },
      { seq: 3, key: next.publicKey, signed: true },
    ]);
    expect(keys).toEqual([old!.publicKey, next.publicKey]);
  });

  it('keeps the old key when the log refuses the write (log.disk.write fault)', async () => {
    const dir = tempDir();
    const path = join(dir, KEY_FILE);
    const log = await openLog(dir);
    const old = await attachIdentity(log, path, { create: true, warn: noWarn });
    const write = log.disk.write.bind(log.disk);
    log.disk.write = async () => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    };
    await expect(rotateKey(log, path)).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' });
    log.disk.write = write;
    expect(loadIdentity(path).publicKey).toBe(old!.publicKey);
    expect(existsSync(`${path}.next`)).toBe(false);
    // the stream's signer went back to the old key with the failed batch
    await log.append(reading('temp', 1));
    const { verdicts, lastSigned } = judge(await all(log));
    expect(verdicts.filter((v) => v.problem)).toEqual([]);
    expect(lastSigned).toBe(2);
  });

  it('finishes a rotation that a crash cut between the record and the key switch', async () => {
    const dir = tempDir();
    const path = join(dir, KEY_FILE);
    let log = await openLog(dir);
    await attachIdentity(log, path, { create: true, warn: noWarn });
    let next = '';
    await expect(
      rotateKey(log, path, {
        recorded: () => {
          throw new Error('power cut');
        },
      }),
    ).rejects.toThrow('power cut');
    next = (await log.get(2))!.data!.publicKey as string;
    await log.close();
    // the log names the new key; the file still holds the old one, the new one is beside it
    expect(loadIdentity(path).publicKey).not.toBe(next);
    log = await openLog(dir);
    const id = await attachIdentity(log, path, { create: true, warn: noWarn });
    expect(id!.publicKey).toBe(next);
    expect(existsSync(`${path}.next`)).toBe(false);
    await log.append(reading('temp', 1));
    const { verdicts } = judge(await all(log));
    expect(verdicts.map((v) => [v.seq, v.signed, v.problem])).toEqual([
      [1, true, undefined],
      [2, true, undefined],
      [3, true, undefined],
    ]);
  });

  it('drops a new key a crash left before the log recorded it', async () => {
    const dir = tempDir();
    const path = join(dir, KEY_FILE);
    let log = await openLog(dir);
    const old = await attachIdentity(log, path, { create: true, warn: noWarn });
    await log.close();
    saveIdentity(`${path}.next`, generateIdentity());
    log = await openLog(dir);
    const id = await attachIdentity(log, path, { create: true, warn: noWarn });
    expect(id!.publicKey).toBe(old!.publicKey);
    expect(existsSync(`${path}.next`)).toBe(false);
  });

  it('refuses to redact a key event', async () => {
    const dir = tempDir();
    const log = await openLog(dir);
    await attachIdentity(log, join(dir, KEY_FILE), { create: true, warn: noWarn });
    await expect(log.redact(1, 'mistake', 'operator:ana')).rejects.toMatchObject({
      code: 'REDACTION_INVALID',
    });
  });
});
