// The hub's signature rules (docs/protocol.md §10): which key each device is enrolled with (a
// keys file, or bound on first use), and the gate the fleet store asks before it stores a
// batch: an enrolled device's events are stored only up to the last one that carries a valid
// signature by the key in force; a bad signature, a key change not signed by the old key, or a
// key other than the enrolled one refuses the batch. The chain of keys is the one of
// src/log/signing.ts (KeyChain), so the hub and `fieldlog log verify` cannot disagree.
import { readFileSync } from 'node:fs';
import { fail } from '../errors.js';
import type { Envelope } from '../log/envelope.js';
import { PUBLIC_KEY_RE } from '../log/events.js';
import { checkEvent } from '../log/seal.js';
import { KeyChain, verifySig } from '../log/signing.js';
import { isId } from '../sync/messages.js';
import type { AppendGate, ForkVerdict, GateVerdict, Head, KeyRecord } from './fleet-store.js';

/** The reasons a batch is refused for, as the `rejects` map of /devices and /metrics counts them. */
export type SignatureReject =
  | 'bad-signature'
  | 'key-change-unsigned'
  | 'key-unknown'
  | 'key-mismatch'
  | 'unsigned';

export interface EnrolmentOptions {
  /** device → public key text (a `--keys` file). */
  keys?: ReadonlyMap<string, string>;
  /** Bind the first key a device presents (`--tofu`). */
  tofu?: boolean;
  /** Refuse what no enrolled key signs (`--require-signatures`). */
  requireSignatures?: boolean;
}

/**
 * Read a `--keys` file: one JSON object, device id → public key (standard padded base64 of the
 * 32 raw Ed25519 bytes, as `fieldlog device key show` prints it). CONFIG_INVALID naming the file
 * and the entry otherwise.
 */
export function loadKeysFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fail(
      'CONFIG_INVALID',
      `keys file ${path} cannot be read (${(err as NodeJS.ErrnoException).code})`,
      err,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw fail('CONFIG_INVALID', `keys file ${path} is not JSON: ${(err as Error).message}`, err);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw fail('CONFIG_INVALID', `keys file ${path} must be a JSON object of device id → public key`);
  const keys = new Map<string, string>();
  for (const [device, key] of Object.entries(parsed)) {
    if (!isId(device))
      throw fail(
        'CONFIG_INVALID',
        `keys file ${path}: "${device}" is not a device id ([A-Za-z0-9._-]{1,64})`,
      );
    if (typeof key !== 'string' || !PUBLIC_KEY_RE.test(key))
      throw fail(
        'CONFIG_INVALID',
        `keys file ${path}: the key of ${device} is not an Ed25519 public key (44 characters of base64, as fieldlog device key show prints it)`,
      );
    keys.set(device, key);
  }
  return keys;
}

const isKeyEvent = (type: string) => type === 'DeviceKeyAdded' || type === 'DeviceKeyRotated';

function keyOf(e: Envelope): string | null {
  const k = e.data === null ? undefined : (e.data as { publicKey?: unknown }).publicKey;
  return typeof k === 'string' ? k : null;
}

function refuse(
  reason: SignatureReject,
  message: string,
): { kind: 'refuse'; reason: string; message: string } {
  return { kind: 'refuse', reason, message: `${reason}: ${message}` };
}

export class SignatureGate implements AppendGate {
  private keys: ReadonlyMap<string, string>;
  readonly tofu: boolean;
  readonly requireSignatures: boolean;

  constructor(opts: EnrolmentOptions = {}) {
    this.keys = opts.keys ?? new Map();
    this.tofu = opts.tofu ?? false;
    this.requireSignatures = opts.requireSignatures ?? false;
  }

  /** A new keys file (SIGHUP): the next batch of every device is decided by it. */
  setKeys(keys: ReadonlyMap<string, string>): void {
    this.keys = keys;
  }

  /** The keys file's key of a device, if it names it. */
  keyOf(device: string): string | undefined {
    return this.keys.get(device);
  }

  get enrolled(): number {
    return this.keys.size;
  }

  decide(device: string, fresh: Envelope[], head: Head, rec: KeyRecord): GateVerdict {
    let enrolled = this.keys.get(device) ?? rec.bound ?? undefined;
    let bind: string | null = null;
    if (enrolled === undefined && this.tofu) {
      // trust on first use: the key the device presented before (stored by a hub without
      // --tofu), or the one this batch adds; its proof of possession is checked below
      const added = fresh.find((e) => e.type === 'DeviceKeyAdded');
      const first = rec.publicKey ?? (added ? keyOf(added) : null);
      if (first !== null) {
        enrolled = first;
        bind = first;
      }
    }
    if (enrolled === undefined) {
      if (this.requireSignatures) {
        const keyed = rec.publicKey !== null || fresh.some((e) => isKeyEvent(e.type));
        return keyed
          ? refuse('key-unknown', `${device} is not enrolled (--require-signatures)`)
          : refuse(
              'unsigned',
              `${device} is not enrolled and its events are not signed (--require-signatures)`,
            );
      }
      return { kind: 'keep', count: fresh.length, keys: follow(rec, fresh) };
    }
    return this.enforce(device, fresh, head, rec, enrolled, bind);
  }

  /**
   * A batch that differs from what is stored. Anyone with the device's MQTT access can send
   * one, so for an enrolled device it is quarantined only when it proves the device wrote it
   * (a restored backup, say): its events hash right, link to one another up to its last one,
   * and that last one carries a valid signature by a key the device's chain has had (or its
   * enrolled key). Otherwise it is refused like any unsigned or forged batch.
   */
  fork(device: string, events: Envelope[], forked: number[], rec: KeyRecord): ForkVerdict {
    const enrolled = this.keys.get(device) ?? rec.bound ?? (this.tofu ? rec.publicKey : null) ?? undefined;
    if (enrolled === undefined) {
      if (!this.requireSignatures) return { kind: 'quarantine' };
      return rec.publicKey !== null || events.some((e) => isKeyEvent(e.type))
        ? refuse('key-unknown', `${device} is not enrolled (--require-signatures)`)
        : refuse(
            'unsigned',
            `${device} is not enrolled and its events are not signed (--require-signatures)`,
          );
    }
    const at = `the batch forking ${device} at seq ${forked[0]}`;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      try {
        checkEvent(e, device);
      } catch (err) {
        return refuse('bad-signature', `${at}: ${(err as Error).message}`);
      }
      const before = events[i - 1];
      if (before !== undefined && (e.seq !== before.seq + 1 || e.prev !== before.hash))
        return refuse(
          'bad-signature',
          `${at}: seq ${e.seq} does not follow seq ${before.seq}, so the batch's signature does not cover it`,
        );
    }
    const last = events[events.length - 1]!;
    if (last.sig === undefined)
      return refuse('unsigned', `${at}: it does not end on a signature (seq ${last.seq})`);
    const known = new Set([enrolled, ...rec.keys, ...(rec.publicKey === null ? [] : [rec.publicKey])]);
    for (const k of known) if (verifySig(k, last.hash, last.sig)) return { kind: 'quarantine' };
    return refuse('bad-signature', `${at}: seq ${last.seq} is not signed by a key of ${device}`);
  }

  /** An enrolled device: the longest prefix ending on a valid signature, or a refusal. */
  private enforce(
    device: string,
    fresh: Envelope[],
    head: Head,
    rec: KeyRecord,
    enrolled: string,
    bind: string | null,
  ): GateVerdict {
    // the chain continues from the stored head's key, unless the operator enrolled a key the
    // stored chain never had (a device re-enrolled after its key was replaced): from that one
    const restarted = rec.publicKey !== null && !rec.keys.includes(enrolled);
    const start = rec.publicKey === null ? null : restarted ? enrolled : rec.publicKey;
    const chain = new KeyChain({ publicKey: start, seq: head.seq });
    const keys = [...rec.keys];
    if (start !== null && !keys.includes(start)) keys.push(start);
    let count = 0;
    let kept: KeyRecord = { publicKey: start, keys: [...keys], bound: rec.bound };
    for (let i = 0; i < fresh.length; i++) {
      const e = fresh[i]!;
      const at = `seq ${e.seq} of ${device}`;
      if (e.type === 'DeviceKeyAdded' && chain.key === null && keyOf(e) !== enrolled)
        return refuse('key-mismatch', `${at}: DeviceKeyAdded names a key other than the enrolled one`);
      const v = chain.feed(e);
      let signed = v.signed;
      if (v.problem === 'key-unknown' && !isKeyEvent(e.type) && chain.key === null) {
        // an old log's unsigned prefix, signed at a batch end before its key event: by the enrolled key
        signed = e.sig !== undefined && verifySig(enrolled, e.hash, e.sig);
        if (!signed) return refuse('bad-signature', `${at}: not a signature by the enrolled key`);
      } else if (v.problem !== undefined) {
        const reason = v.problem === 'bad-signature' && restarted ? 'key-mismatch' : v.problem;
        return refuse(reason, `${at}: ${v.detail ?? v.problem}`);
      }
      if (isKeyEvent(e.type) && chain.key !== null && !keys.includes(chain.key)) keys.push(chain.key);
      if (signed) {
        count = i + 1;
        kept = { publicKey: chain.key, keys: [...keys], bound: rec.bound ?? bind };
      }
    }
    return { kind: 'keep', count, keys: kept };
  }
}

/** An unenrolled device's key record: its key events followed, no signature checked. */
function follow(rec: KeyRecord, fresh: Envelope[]): KeyRecord {
  let out = rec;
  for (const e of fresh) {
    if (!isKeyEvent(e.type)) continue;
    const k = keyOf(e);
    if (k === null) continue;
    out = { publicKey: k, keys: out.keys.includes(k) ? out.keys : [...out.keys, k], bound: out.bound };
  }
  return out;
}
