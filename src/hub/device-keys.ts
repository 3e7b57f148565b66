// Each device's identity as the hub's people see it (`key` of /devices and /devices/live, and
// of /devices/ID/trust; docs/protocol.md §11): the fingerprint of its key, how it is enrolled
// (the keys file, bound on first use, or not at all), and whether its stored head carries a
// valid signature. Read from the key record kept with the stored head and the head event, and
// cached per device by head hash: a device is read again only once its head moves.
import type { Envelope } from '../log/envelope.js';
import { fingerprint, verifySig } from '../log/signing.js';
import type { FleetStore, Head, KeyRecord } from './fleet-store.js';

export type Enrolment = 'keys-file' | 'tofu' | null;

export interface DeviceKey {
  /** Fingerprint (§2.4) of the key in force at the stored head, else of the enrolled key; null when neither. */
  fingerprint: string | null;
  enrolled: Enrolment;
  /** The stored head event carries a signature valid by a key the device's chain has had. */
  signed: boolean;
}

export interface DeviceKeyDetail extends DeviceKey {
  publicKey: string | null;
  /** Every key the stored chain has had, oldest first. */
  keys: { publicKey: string; fingerprint: string }[];
  /** The newest stored seq whose `sig` is valid; null when none among the newest LOOK_BACK. */
  lastSigned: number | null;
  /** Stored events after `lastSigned` (an unenrolled device's unsigned tail); null when none or unknown. */
  unsignedTail: { from: number; to: number } | null;
}

/** How far back the trust answer looks for the last signature (an enrolled device's is its head). */
const LOOK_BACK = 1000;

interface Cached {
  hash: string;
  rec: KeyRecord;
  signed: boolean;
}

export class DeviceKeys {
  private readonly cache = new Map<string, Cached>();

  /** `enrolledKey`: the keys file's key of a device (it may change on SIGHUP: asked each time). */
  constructor(
    private readonly store: FleetStore,
    private readonly enrolledKey: (device: string) => string | undefined = () => undefined,
  ) {}

  async of(device: string, head: Head): Promise<DeviceKey> {
    const c = await this.read(device, head);
    return this.summary(device, c);
  }

  async detail(device: string, head: Head): Promise<DeviceKeyDetail> {
    const c = await this.read(device, head);
    let lastSigned: number | null = c.signed ? head.seq : null;
    if (lastSigned === null && c.rec.keys.length > 0 && head.seq > 0) {
      const from = Math.max(1, head.seq - LOOK_BACK + 1);
      outer: for await (const chunk of this.store.events({
        device,
        fromSeq: from,
        toSeq: head.seq,
        reverse: true,
      }))
        for (const { event } of chunk)
          if (signedByAny(event, c.rec)) {
            lastSigned = event.seq;
            break outer;
          }
    }
    return {
      ...this.summary(device, c),
      publicKey: c.rec.publicKey,
      keys: c.rec.keys.map((k) => ({ publicKey: k, fingerprint: fingerprint(k) })),
      lastSigned,
      unsignedTail:
        lastSigned !== null && lastSigned < head.seq ? { from: lastSigned + 1, to: head.seq } : null,
    };
  }

  private summary(device: string, c: Cached): DeviceKey {
    const file = this.enrolledKey(device);
    const key = c.rec.publicKey ?? file ?? c.rec.bound;
    return {
      fingerprint: key ? fingerprint(key) : null,
      enrolled: file !== undefined ? 'keys-file' : c.rec.bound !== null ? 'tofu' : null,
      signed: c.signed,
    };
  }

  private async read(device: string, head: Head): Promise<Cached> {
    const had = this.cache.get(device);
    if (had && had.hash === head.hash) return had;
    const rec = await this.store.keyRecord(device);
    let signed = false;
    if (head.seq > 0 && rec.keys.length > 0)
      for await (const chunk of this.store.events({ device, fromSeq: head.seq, toSeq: head.seq }))
        for (const { event } of chunk) signed = event.hash === head.hash && signedByAny(event, rec);
    const c = { hash: head.hash, rec, signed };
    this.cache.set(device, c);
    return c;
  }
}

function signedByAny(e: Envelope, rec: KeyRecord): boolean {
  if (e.sig === undefined) return false;
  const keys =
    rec.publicKey !== null && !rec.keys.includes(rec.publicKey) ? [...rec.keys, rec.publicKey] : rec.keys;
  return keys.some((k) => verifySig(k, e.hash, e.sig!));
}
