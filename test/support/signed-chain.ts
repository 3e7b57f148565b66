// Signed device chains for the hub's tests, written by the device's own EventLog (in memory)
// and signed afterwards with node:crypto through src/log/signing.ts, as the replicator signs a
// batch's last event at send time (`sig` is not hashed: the chain is the same either way).
import { digestOf, type Envelope, hashOf } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { generateIdentity, type Identity, signHash } from '../../src/log/signing.js';

export interface SignedDevice {
  log: EventLog;
  identity: Identity;
  /** Every event so far, unsigned. */
  events(): Promise<Envelope[]>;
  /** Append `n` readings. */
  readings(n: number): Promise<void>;
  /** Append a DeviceKeyRotated to a new key (signed by the old one when asked for) and switch to it. */
  rotate(signedByOld?: boolean): Promise<Identity>;
  /** The events from..to, the last (and every key event) signed by the key in force there. */
  batch(from: number, to: number): Promise<Envelope[]>;
}

export function readingInputs(n: number, from = 0) {
  return Array.from({ length: n }, (_, k) => ({
    type: 'ReadingRecorded',
    data: { source: 'node', sensor: 't', value: from + k, unit: 'C' },
    meta: { actor: 'sensor:node' },
  }));
}

/** A device whose log starts with `unsigned` readings (an old log), then its DeviceKeyAdded. */
export async function signedDevice(device: string, opts: { unsigned?: number } = {}): Promise<SignedDevice> {
  const log = await EventLog.memory({ device });
  let identity = generateIdentity();
  let count = 0;
  // which key signs each seq: the one in force at it (a rotation is signed by the old key)
  const keyAt: { from: number; id: Identity }[] = [];
  if (opts.unsigned) {
    await log.appendMany(readingInputs(opts.unsigned));
    count += opts.unsigned;
  }
  await log.append({ type: 'DeviceKeyAdded', data: { alg: 'ed25519', publicKey: identity.publicKey } });
  keyAt.push({ from: 1, id: identity });
  const keyEvents = new Set<number>([log.head().seq]);
  const signerOf = (seq: number) => [...keyAt].reverse().find((k) => k.from <= seq)!.id;
  const all = async () => {
    const out: Envelope[] = [];
    for await (const e of log.events()) out.push(e);
    return out;
  };
  return {
    log,
    get identity() {
      return identity;
    },
    events: all,
    async readings(n) {
      await log.appendMany(readingInputs(n, count));
      count += n;
    },
    async rotate(signedByOld = true) {
      const next = generateIdentity();
      const e = await log.append({ type: 'DeviceKeyRotated', data: { publicKey: next.publicKey } });
      keyEvents.add(e.seq);
      // the rotation is signed by the old key (in force up to it), later events by the new one
      if (!signedByOld) keyAt.push({ from: e.seq, id: generateIdentity() });
      keyAt.push({ from: e.seq + 1, id: next });
      identity = next;
      return next;
    },
    async batch(from, to) {
      const evs = (await all()).slice(from - 1, to);
      return evs.map((e, i) =>
        i === evs.length - 1 || keyEvents.has(e.seq)
          ? { ...e, sig: signHash(signerOf(e.seq).privateKey, e.hash) }
          : e,
      );
    },
  };
}

/** A reading sealed after `prev` by a writer without the device's key: a valid link and hash. */
export function forgedAfter(prev: Envelope, value: number, sig?: string): Envelope {
  const data = { source: 'node', sensor: 't', value, unit: 'C' };
  const env: Envelope = {
    ...prev,
    seq: prev.seq + 1,
    type: 'ReadingRecorded',
    data,
    digest: digestOf(data),
    prev: prev.hash,
    hash: '',
  };
  delete env.sig;
  env.hash = hashOf(env);
  if (sig !== undefined) env.sig = sig;
  return env;
}
