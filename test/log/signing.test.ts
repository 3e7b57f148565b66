// Signatures and the chain of keys (src/log/signing.ts): a signature round-trips and fails for
// another key or a changed hash; the committed vector, made by OpenSSL alone
// (test/fixtures/make-signature-vector.sh), is accepted and reproduced; key files are refused
// when open to others; KeyChain judges keys, rotations and replaced keys event by event.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256hex } from '../../src/log/envelope.js';
import { payloadProblem } from '../../src/log/events.js';
import {
  fingerprint,
  generateIdentity,
  type Identity,
  KeyChain,
  loadIdentity,
  publicKeyText,
  saveIdentity,
  signHash,
  verifySig,
} from '../../src/log/signing.js';

const vector = JSON.parse(
  readFileSync(new URL('../fixtures/signature-vector.json', import.meta.url), 'utf8'),
) as {
  privateKeyPem: string;
  seed: string;
  publicKey: string;
  fingerprint: string;
  hash: string;
  sig: string;
};

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fieldlog-sign-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function flipBit(hex: string, bit: number): string {
  const b = Buffer.from(hex, 'hex');
  b[bit >> 3]! ^= 1 << (bit & 7);
  return b.toString('hex');
}

const H1 = sha256hex('one');

describe('signHash and verifySig', () => {
  it('round-trips, and fail for another key or a hash one bit off', () => {
    const a = generateIdentity();
    const b = generateIdentity();
    const sig = signHash(a.privateKey, H1);
    expect(sig).toMatch(/^[A-Za-z0-9+/]{85}[AQgw]==$/);
    expect(verifySig(a.publicKey, H1, sig)).toBe(true);
    expect(verifySig(b.publicKey, H1, sig)).toBe(false);
    for (const bit of [0, 7, 100, 255]) expect(verifySig(a.publicKey, flipBit(H1, bit), sig)).toBe(false);
    // a signature over the 64 hex characters is not one over the 32 bytes
    const overText = signHash(a.privateKey, Buffer.from(H1, 'utf8').toString('hex').slice(0, 64));
    expect(verifySig(a.publicKey, H1, overText)).toBe(false);
  });

  it('answers false, never throws, for malformed keys, hashes and signatures', () => {
    const a = generateIdentity();
    const sig = signHash(a.privateKey, H1);
    expect(verifySig('not a key', H1, sig)).toBe(false);
    expect(verifySig(a.publicKey, 'abc', sig)).toBe(false);
    expect(verifySig(a.publicKey, H1, 'AAAA')).toBe(false);
    expect(verifySig(a.publicKey, H1.toUpperCase(), sig)).toBe(false);
  });

  it('accepts the vector OpenSSL made and reproduces its signature (Ed25519 is deterministic)', () => {
    expect(verifySig(vector.publicKey, vector.hash, vector.sig)).toBe(true);
    expect(verifySig(vector.publicKey, flipBit(vector.hash, 3), vector.sig)).toBe(false);
    const dir = tempDir();
    const path = join(dir, 'vector.key');
    writeFileSync(path, vector.privateKeyPem, { mode: 0o600 });
    const id = loadIdentity(path);
    expect(id.publicKey).toBe(vector.publicKey);
    expect(id.fingerprint).toBe(vector.fingerprint);
    expect(fingerprint(vector.publicKey)).toBe(vector.fingerprint);
    expect(signHash(id.privateKey, vector.hash)).toBe(vector.sig);
    // the seed is the PKCS#8 key's last 32 bytes
    const der = id.privateKey.export({ format: 'der', type: 'pkcs8' });
    expect(der.subarray(-32).toString('hex')).toBe(vector.seed);
  });
});

describe('key files', () => {
  it('saves mode 0600 and loads the same identity back', () => {
    const path = join(tempDir(), 'device.key');
    const id = generateIdentity();
    saveIdentity(path, id);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const back = loadIdentity(path);
    expect(back.publicKey).toBe(id.publicKey);
    expect(publicKeyText(back.privateKey)).toBe(id.publicKey);
    expect(back.fingerprint).toMatch(/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/);
  });

  it('refuses a key file open to group or others, missing, or not an Ed25519 PEM', () => {
    const dir = tempDir();
    const path = join(dir, 'device.key');
    saveIdentity(path, generateIdentity());
    chmodSync(path, 0o640);
    expect(() => loadIdentity(path)).toThrow(expect.objectContaining({ code: 'KEY_FILE_INVALID' }));
    chmodSync(path, 0o604);
    expect(() => loadIdentity(path)).toThrow(expect.objectContaining({ code: 'KEY_FILE_INVALID' }));
    chmodSync(path, 0o400);
    expect(loadIdentity(path).publicKey).toMatch(/=$/);
    expect(() => loadIdentity(join(dir, 'none.key'))).toThrow(
      expect.objectContaining({ code: 'KEY_FILE_INVALID' }),
    );
    const junk = join(dir, 'junk.key');
    writeFileSync(junk, 'hello', { mode: 0o600 });
    expect(() => loadIdentity(junk)).toThrow(expect.objectContaining({ code: 'KEY_FILE_INVALID' }));
  });

  it('never puts the key in a message', () => {
    const dir = tempDir();
    const path = join(dir, 'device.key');
    saveIdentity(path, generateIdentity());
    const pem = readFileSync(path, 'utf8');
    chmodSync(path, 0o644);
    let message = '';
    try {
      loadIdentity(path);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('chmod 600');
    expect(message).not.toContain(pem.split('\n')[1]!);
  });
});

describe('the key events', () => {
  it('have payload schemas', () => {
    const k = generateIdentity().publicKey;
    expect(payloadProblem('DeviceKeyAdded', { alg: 'ed25519', publicKey: k })).toBeUndefined();
    expect(payloadProblem('DeviceKeyAdded', { alg: 'rsa', publicKey: k })).toMatch(/alg/);
    expect(payloadProblem('DeviceKeyAdded', { alg: 'ed25519' })).toMatch(/publicKey/);
    expect(payloadProblem('DeviceKeyRotated', { publicKey: 'short=' })).toMatch(/publicKey/);
    expect(payloadProblem('DeviceKeyRotated', { publicKey: k })).toBeUndefined();
  });
});

// ---------------------------------------------------------------- KeyChain

interface Ev {
  seq: number;
  type: string;
  data: Record<string, unknown> | null;
  hash: string;
  sig?: string;
}
let n = 0;
function ev(seq: number, type = 'NoteAdded', data: Record<string, unknown> = { text: 'x' }): Ev {
  return { seq, type, data, hash: sha256hex(`event ${seq} ${n++}`) };
}
function signed(e: Ev, by: Identity): Ev {
  return { ...e, sig: signHash(by.privateKey, e.hash) };
}
function added(seq: number, key: Identity, by: Identity = key): Ev {
  return signed(ev(seq, 'DeviceKeyAdded', { alg: 'ed25519', publicKey: key.publicKey }), by);
}
function rotated(seq: number, to: Identity, by: Identity): Ev {
  return signed(ev(seq, 'DeviceKeyRotated', { publicKey: to.publicKey }), by);
}

describe('KeyChain', () => {
  const a = generateIdentity();
  const b = generateIdentity();

  it('leaves an old log without keys alone: nothing signed, no problem', () => {
    const chain = new KeyChain();
    for (let s = 1; s <= 3; s++) expect(chain.feed(ev(s))).toEqual({ seq: s, key: null, signed: false });
    expect(chain.lastSigned).toBe(0);
    expect(chain.key).toBeNull();
  });

  it('starts at DeviceKeyAdded and tracks the last valid signature', () => {
    const chain = new KeyChain();
    chain.feed(ev(1));
    expect(chain.feed(added(2, a))).toEqual({ seq: 2, key: a.publicKey, signed: true });
    expect(chain.feed(ev(3)).signed).toBe(false);
    expect(chain.feed(signed(ev(4), a))).toEqual({ seq: 4, key: a.publicKey, signed: true });
    expect(chain.feed(ev(5)).problem).toBeUndefined();
    expect(chain.lastSigned).toBe(4);
    expect(chain.state).toEqual({ publicKey: a.publicKey, seq: 5 });
  });

  it('reports a signature by another key, or over another hash, as bad-signature', () => {
    const chain = new KeyChain();
    chain.feed(added(1, a));
    expect(chain.feed(signed(ev(2), b))).toMatchObject({ signed: false, problem: 'bad-signature' });
    const e = signed(ev(3), a);
    expect(chain.feed({ ...e, hash: flipBit(e.hash, 9) })).toMatchObject({ problem: 'bad-signature' });
    expect(chain.lastSigned).toBe(1);
  });

  it('wants DeviceKeyAdded signed by the key it adds (proof of possession)', () => {
    expect(new KeyChain().feed(added(1, a, b)).problem).toBe('bad-signature');
    const unsigned = ev(1, 'DeviceKeyAdded', { alg: 'ed25519', publicKey: a.publicKey });
    expect(new KeyChain().feed(unsigned).problem).toBe('key-change-unsigned');
  });

  it('follows a rotation signed by the old key', () => {
    const chain = new KeyChain();
    chain.feed(added(1, a));
    expect(chain.feed(rotated(2, b, a))).toEqual({ seq: 2, key: a.publicKey, signed: true });
    expect(chain.key).toBe(b.publicKey);
    expect(chain.feed(signed(ev(3), b)).signed).toBe(true);
    expect(chain.feed(signed(ev(4), a)).problem).toBe('bad-signature');
    expect(chain.keys).toEqual([a.publicKey, b.publicKey]);
  });

  it('reports a rotation signed by the new key, or with no key before it, as key-change-unsigned', () => {
    const chain = new KeyChain();
    chain.feed(added(1, a));
    expect(chain.feed(rotated(2, b, b)).problem).toBe('key-change-unsigned');
    // the new key is in force after it: one replaced key is one problem
    expect(chain.feed(signed(ev(3), b)).problem).toBeUndefined();
    expect(new KeyChain().feed(rotated(1, b, a)).problem).toBe('key-change-unsigned');
  });

  it('reports a replaced key (a second DeviceKeyAdded) as key-change-unsigned, once', () => {
    const chain = new KeyChain();
    chain.feed(added(1, a));
    chain.feed(signed(ev(2), a));
    expect(chain.feed(added(3, b))).toMatchObject({ key: b.publicKey, problem: 'key-change-unsigned' });
    expect(chain.feed(signed(ev(4), b))).toEqual({ seq: 4, key: b.publicKey, signed: true });
    // the same key stated again is no change
    expect(chain.feed(added(5, b)).problem).toBeUndefined();
  });

  it('continues from a known head (a store) and reports a signature with no key as key-unknown', () => {
    const chain = new KeyChain({ publicKey: a.publicKey, seq: 10 });
    expect(chain.lastSigned).toBe(10);
    expect(chain.feed(signed(ev(11), a)).signed).toBe(true);
    expect(new KeyChain().feed(signed(ev(1), a)).problem).toBe('key-unknown');
    const purged = { ...added(1, a), data: null };
    const c2 = new KeyChain();
    expect(c2.feed(purged).problem).toBe('key-unknown');
    expect(c2.key).toBeNull();
  });
});
