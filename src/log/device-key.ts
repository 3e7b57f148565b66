// The key in force on a device's stream, as a projection of its key events (docs/protocol.md
// §2.4): what a device needs at start to go on signing, and what the replicator needs to sign
// a batch's end at send time. Only DeviceKeyAdded and DeviceKeyRotated move it; whether they
// were legitimate is KeyChain's judgement (signing.ts), not this fold's.
import type { EventLog, FoldEvent } from './event-log.js';
import { type Projection, Projector } from './projection.js';

export interface KeyInForce {
  /** The public key text, null before any key event. */
  publicKey: string | null;
  /** The first seq it signs: its DeviceKeyAdded, or the event after its DeviceKeyRotated. */
  from: number;
}

export const deviceKey: Projection<KeyInForce> = {
  name: 'device-key',
  version: 1,
  initial: () => ({ publicKey: null, from: 0 }),
  apply(state, e: FoldEvent) {
    if (e.type !== 'DeviceKeyAdded' && e.type !== 'DeviceKeyRotated') return state;
    const key = e.data?.publicKey;
    if (typeof key !== 'string') return state;
    return { publicKey: key, from: e.type === 'DeviceKeyAdded' ? e.seq : e.seq + 1 };
  },
};

/** The key in force at the stream's durable head. */
export async function keyInForce(log: EventLog, device?: string): Promise<KeyInForce> {
  const opts = device === undefined ? {} : { device };
  return (await new Projector(log, deviceKey, opts).stateAt()).state;
}
