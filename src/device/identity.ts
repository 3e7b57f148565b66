// The device's identity on disk and in its log: where the key file is (DATA/device.key, or
// the config's `identity.key`), making it at first start, recording it with DeviceKeyAdded
// before the first signed event, and rotating it (DeviceKeyRotated, signed by the old key)
// so that a crash at any point never leaves a log whose key the device does not hold.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { keyInForce } from '../log/device-key.js';
import type { EventLog } from '../log/event-log.js';
import { generateIdentity, type Identity, loadIdentity, saveIdentity } from '../log/signing.js';

/** The key file's name in the data folder (LevelDB leaves files it does not know alone). */
export const KEY_FILE = 'device.key';

/** The key file: the configured one, else the one in the data folder. */
export function keyPath(dataDir: string | undefined, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  if (dataDir === undefined) throw fail('USAGE', 'give --data DIR or a --config FILE with identity.key');
  return join(dataDir, KEY_FILE);
}

/** Where a rotation puts the new key until the log has recorded it. */
function nextPath(path: string): string {
  return `${path}.next`;
}

function syncDir(path: string): void {
  // the rename is durable only once the folder's entry is: a power cut must not undo it
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Finish or undo a rotation a crash interrupted: a `.next` key that the log already names is
 * the device's key now (the rename is redone); one the log never recorded is dropped.
 */
function recoverRotation(path: string, logKey: string | null): void {
  const next = nextPath(path);
  if (!existsSync(next)) return;
  const candidate = loadIdentity(next);
  if (candidate.publicKey === logKey) {
    renameSync(next, path);
    syncDir(path);
  } else unlinkSync(next);
}

export interface AttachOptions {
  /** Make a key when there is none (the device at first start), else go on unsigned. */
  create: boolean;
  /** One line for people: a replaced key. */
  warn: (line: string) => void;
}

/**
 * Sign the log's own events from now on with the device's key: made and saved (0600) when
 * `create` and there is none, recorded with DeviceKeyAdded when the log has no key yet. A key
 * file whose key is not the log's (replaced, not rotated) is recorded with a new DeviceKeyAdded,
 * which every verifier reports as `key-change-unsigned` and the hub refuses until the device is
 * enrolled again; the device warns and goes on logging. Returns null when there is no key.
 */
export async function attachIdentity(
  log: EventLog,
  path: string,
  opts: AttachOptions,
): Promise<Identity | null> {
  const inLog = await keyInForce(log);
  recoverRotation(path, inLog.publicKey);
  let identity: Identity;
  if (existsSync(path)) identity = loadIdentity(path);
  else if (opts.create) {
    identity = generateIdentity();
    saveIdentity(path, identity);
    syncDir(path);
  } else return null;
  if (inLog.publicKey === identity.publicKey) {
    log.signWith({ identity, from: inLog.from });
    return identity;
  }
  if (inLog.publicKey !== null)
    opts.warn(
      `the key in ${path} (${identity.fingerprint}) is not the key the log was signed with; recorded as a new DeviceKeyAdded, which a hub refuses until the device is enrolled again`,
    );
  await log.appendKeyEvent('DeviceKeyAdded', identity);
  return identity;
}

/** A seam for tests: runs between the log recording the rotation and the key file switching. */
export interface RotateHooks {
  recorded?: () => void;
}

/**
 * Rotate the device key of a stopped device's log: the new key is saved beside the old one,
 * the log records DeviceKeyRotated signed by the old key, and only then does the new key
 * replace the old file (a rename). A crash before the record leaves the old key in force (the
 * stray new file is dropped at the next start); a crash after it is finished at the next start
 * (recoverRotation), so the device always holds the key its log names.
 */
export async function rotateKey(log: EventLog, path: string, hooks: RotateHooks = {}): Promise<Identity> {
  const current = await attachIdentity(log, path, { create: false, warn: () => {} });
  if (current === null)
    throw fail('KEY_FILE_INVALID', `device key file ${path} does not exist: nothing to rotate`);
  const next = generateIdentity();
  const staged = nextPath(path);
  saveIdentity(staged, next);
  try {
    await log.appendKeyEvent('DeviceKeyRotated', next);
  } catch (err) {
    unlinkSync(staged);
    throw err;
  }
  hooks.recorded?.();
  renameSync(staged, path);
  syncDir(path);
  return next;
}
