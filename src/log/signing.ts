// Device identity and signatures (docs/protocol.md §2.4): the device's Ed25519 key pair and its
// file, the public key's text and fingerprint, the signature over an event's hash, and
// KeyChain, the one pure checker of a device's chain of keys that `fieldlog log verify` and the
// hub's ingest both use, so the two can never disagree on which key was in force where.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import {
  closeSync,
  constants,
  fdatasyncSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { fail } from '../errors.js';
import type { Envelope } from './envelope.js';
import { PUBLIC_KEY_RE } from './events.js';

export interface Identity {
  privateKey: KeyObject;
  /** Standard padded base64 of the 32 raw public key bytes. */
  publicKey: string;
  fingerprint: string;
}

/** A new key pair, in memory (saveIdentity writes it). */
export function generateIdentity(): Identity {
  const { privateKey } = generateKeyPairSync('ed25519');
  return identityOf(privateKey);
}

function identityOf(privateKey: KeyObject): Identity {
  const publicKey = publicKeyText(createPublicKey(privateKey));
  return { privateKey, publicKey, fingerprint: fingerprint(publicKey) };
}

/** The 32 raw bytes of an Ed25519 public key, in standard padded base64 (44 characters). */
export function publicKeyText(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw fail('KEY_FILE_INVALID', 'not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/** SHA-256 of the 32 raw public key bytes, its first 16 bytes in hex, in groups of 4 digits joined by ':'. */
export function fingerprint(publicKey: string): string {
  const digest = createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 32);
  return digest.match(/.{4}/g)!.join(':');
}

/**
 * Read a private key file (PKCS#8 PEM). Refused (KEY_FILE_INVALID, one line) when it cannot be
 * read, when group or others may read or write it (as ssh refuses a private key left open),
 * or when it is not an Ed25519 key. The key's text is never part of a message.
 */
export function loadIdentity(path: string): Identity {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'cannot be read (permission denied)'
          : `cannot be read (${code})`;
    throw fail('KEY_FILE_INVALID', `device key file ${path} ${why}`, err);
  }
  let pem: Buffer;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fail('KEY_FILE_INVALID', `device key file ${path} is not a file`);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw fail(
        'KEY_FILE_INVALID',
        `device key file ${path} is open to others (mode ${mode}); run chmod 600 ${path}`,
      );
    }
    pem = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw fail('KEY_FILE_INVALID', `device key file ${path} is not a PEM private key`, err);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw fail(
      'KEY_FILE_INVALID',
      `device key file ${path} holds a ${key.asymmetricKeyType} key, not ed25519`,
    );
  return identityOf(key);
}

/**
 * Write the private key (PKCS#8 PEM, mode 0600) atomically: a temporary file beside it, made
 * with that mode from the start (never briefly readable), synced, then renamed over `path`:
 * a crash leaves the old file or the new one, never a part of either.
 */
export function saveIdentity(path: string, id: Identity): void {
  const pem = id.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, pem);
      // synced: a rename that survives a power cut must not point at an empty file
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw fail('KEY_FILE_INVALID', `cannot write the device key file ${path} (${code})`, err);
  }
}

/** Ed25519 by `key` over the 32 raw bytes of `hashHex`: 88 characters of standard padded base64. */
export function signHash(key: KeyObject, hashHex: string): string {
  return sign(null, Buffer.from(hashHex, 'hex'), key).toString('base64');
}

const publicKeys = new Map<string, KeyObject>();

function publicKeyObject(text: string): KeyObject | undefined {
  let key = publicKeys.get(text);
  if (key) return key;
  if (!PUBLIC_KEY_RE.test(text)) return undefined;
  try {
    key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(text, 'base64').toString('base64url') },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
  // a fleet has few keys; the bound only keeps a flood of made-up ones from growing it
  if (publicKeys.size >= 10_000) publicKeys.clear();
  publicKeys.set(text, key);
  return key;
}

/** Whether `sig` is the Ed25519 signature by `publicKey` over the 32 raw bytes of `hashHex`. Never throws. */
export function verifySig(publicKey: string, hashHex: string, sig: string): boolean {
  const key = publicKeyObject(publicKey);
  if (!key || !/^[0-9a-f]{64}$/.test(hashHex)) return false;
  const bytes = Buffer.from(sig, 'base64');
  if (bytes.length !== 64) return false;
  try {
    return verify(null, Buffer.from(hashHex, 'hex'), key, bytes);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- the chain of keys

export type KeyProblem = 'bad-signature' | 'key-change-unsigned' | 'key-unknown';

/** What KeyChain.feed says of one event. */
export interface KeyVerdict {
  seq: number;
  /** The key this event's `sig` is checked against (the old one for a rotation); null before any key. */
  key: string | null;
  /** It carries a `sig` that is valid by that key: the history up to it is signed. */
  signed: boolean;
  problem?: KeyProblem;
  detail?: string;
}

/** Where a chain of keys stands: the key in force after event `seq` (null: none yet). */
export interface KeyState {
  publicKey: string | null;
  seq: number;
}

/**
 * The chain of keys of one device, event by event in seq order. A `DeviceKeyAdded` starts it
 * (its `sig` by the key it adds); a `DeviceKeyRotated` moves it (its `sig` by the key in force
 * before it); any other event's `sig` must be by the key in force. A second `DeviceKeyAdded`
 * with another key, or a rotation not signed by the old key, is `key-change-unsigned`; the new
 * key is in force after it all the same, so one replaced key is reported once, not at every
 * later signature. Pure: no I/O, no clock.
 */
export class KeyChain {
  private current: string | null;
  private last: number;
  private signedAt: number;
  /** Every key the chain has held, in order (a --keys file's key must be one of them). */
  readonly keys: string[] = [];

  constructor(known: KeyState = { publicKey: null, seq: 0 }) {
    this.current = known.publicKey;
    this.last = known.seq;
    // a known head is where a store stopped: what it holds ended on a valid signature
    this.signedAt = known.publicKey === null ? 0 : known.seq;
    if (known.publicKey !== null) this.keys.push(known.publicKey);
  }

  /** The key in force after the last event fed. */
  get key(): string | null {
    return this.current;
  }

  /** Seq of the last event fed, and the key in force after it: what a store keeps at its head. */
  get state(): KeyState {
    return { publicKey: this.current, seq: this.last };
  }

  /** Seq of the last event with a valid signature (0: none); after it is the unsigned tail. */
  get lastSigned(): number {
    return this.signedAt;
  }

  feed(env: Pick<Envelope, 'seq' | 'type' | 'data' | 'hash' | 'sig'>): KeyVerdict {
    this.last = env.seq;
    const before = this.current;
    const sig = env.sig;
    if (env.type === 'DeviceKeyAdded' || env.type === 'DeviceKeyRotated') {
      const next = env.data === null ? undefined : env.data.publicKey;
      if (typeof next !== 'string' || !PUBLIC_KEY_RE.test(next)) {
        // a purged or malformed key event: no key can be trusted after it
        this.current = null;
        return this.verdict(env.seq, before, false, 'key-unknown', `${env.type} names no public key`);
      }
      this.current = next;
      if (!this.keys.includes(next)) this.keys.push(next);
      if (env.type === 'DeviceKeyAdded') {
        const valid = sig !== undefined && verifySig(next, env.hash, sig);
        if (before !== null && before !== next)
          return this.verdict(
            env.seq,
            next,
            valid,
            'key-change-unsigned',
            'a second DeviceKeyAdded replaces the key without its signature',
          );
        if (sig === undefined)
          return this.verdict(
            env.seq,
            next,
            false,
            'key-change-unsigned',
            'DeviceKeyAdded without a signature by its key',
          );
        if (!valid)
          return this.verdict(
            env.seq,
            next,
            false,
            'bad-signature',
            'DeviceKeyAdded not signed by the key it adds',
          );
        return this.verdict(env.seq, next, true);
      }
      if (before === null)
        return this.verdict(
          env.seq,
          null,
          false,
          'key-change-unsigned',
          'DeviceKeyRotated with no key in force before it',
        );
      const valid = sig !== undefined && verifySig(before, env.hash, sig);
      if (!valid)
        return this.verdict(
          env.seq,
          before,
          false,
          'key-change-unsigned',
          'DeviceKeyRotated not signed by the key in force before it',
        );
      return this.verdict(env.seq, before, true);
    }
    if (sig === undefined) return this.verdict(env.seq, before, false);
    if (before === null)
      return this.verdict(env.seq, null, false, 'key-unknown', 'signed, but no key event before it');
    if (!verifySig(before, env.hash, sig))
      return this.verdict(
        env.seq,
        before,
        false,
        'bad-signature',
        'sig is not a signature of hash by the key in force',
      );
    return this.verdict(env.seq, before, true);
  }

  private verdict(
    seq: number,
    key: string | null,
    signed: boolean,
    problem?: KeyProblem,
    detail?: string,
  ): KeyVerdict {
    if (signed) this.signedAt = seq;
    const v: KeyVerdict = { seq, key, signed };
    if (problem !== undefined) {
      v.problem = problem;
      if (detail !== undefined) v.detail = detail;
    }
    return v;
  }
}
