// The fleet's event store as the hub uses it: what the ingest, the HTTP API, the live feed,
// export and `hub verify` need, and nothing about how it is kept. Every implementation passes
// one contract suite (test/hub/fleet-store-contract.ts): LevelDB (the default, a folder) and
// PostgreSQL (`--store postgres://…`, shared by any number of hub processes).

import type { DeviceState } from '../log/device-state.js';
import type { Envelope } from '../log/envelope.js';
import type { VerifyReport } from '../log/verify.js';
import type { SensorSummary, SeriesData, TrackData } from './rollup.js';

export type { SensorSummary, SeriesData, TrackData } from './rollup.js';

export interface Head {
  seq: number;
  /** 64 hex digits; 64 zeros for seq 0. */
  hash: string;
}

export interface DeviceHead {
  device: string;
  /** What the store holds durably (an ack may name it). */
  head: Head;
}

/**
 * The store's answer to one batch of a device's sealed events (one `events` message).
 * Every answer's `head` is what the store holds durably at that moment: the hub acks it.
 * Events the store already holds are compared by hash: equal ones are duplicates (dropped),
 * a different one is a fork (the differing events are quarantined, nothing is stored).
 */
export type AppendOutcome =
  | {
      kind: 'stored';
      /** The first and last seq newly stored (earlier ones of the batch were duplicates). */
      from: number;
      to: number;
      duplicates: number;
      /** New events of the batch after `to` that the gate did not keep (an unsigned tail). */
      waiting?: number;
      /**
       * Resolves with the new head once the events are durable (committed), rejects if they
       * could not be written; only then may the hub ack them. The next batch of the same
       * device may be appended before it resolves.
       */
      written: Promise<Head>;
    }
  /** Everything in the batch was already held. */
  | { kind: 'duplicate'; head: Head; duplicates: number }
  /** The batch starts after the head: the device must resend from head.seq + 1. */
  | { kind: 'gap'; head: Head; expected: number; got: number }
  /** The batch differs from stored events at these seqs; they were quarantined. */
  | { kind: 'fork'; head: Head; seqs: number[] }
  /** An event does not verify (hash, digest, link, payload schema, shape): nothing stored. */
  | { kind: 'invalid'; head: Head; message: string }
  /** The gate refused the batch (a signature rule, `reason` as the gate named it): nothing stored. */
  | { kind: 'refused'; head: Head; reason: string; message: string }
  /** The gate kept none of the new events (none ends on a valid signature yet): nothing stored. */
  | { kind: 'waiting'; head: Head; waiting: number };

/**
 * The key record a store keeps with each device's head (docs/protocol.md §10): written in the
 * same atomic write as the events it covers, so it is always the one of the stored head, across
 * restarts and across every hub sharing the store.
 */
export interface KeyRecord {
  /** The key in force after the stored head; null while the stored log has no key event. */
  publicKey: string | null;
  /** Every key the stored chain has had, oldest first (a rotation adds one). */
  keys: string[];
  /** The key bound on first use (`--tofu`); null when none was. */
  bound: string | null;
}

export const NO_KEYS: KeyRecord = { publicKey: null, keys: [], bound: null };

/** Whether two key records say the same (most batches change nothing: the store writes nothing). */
export function sameKeys(a: KeyRecord, b: KeyRecord): boolean {
  return (
    a.publicKey === b.publicKey &&
    a.bound === b.bound &&
    a.keys.length === b.keys.length &&
    a.keys.every((k, i) => k === b.keys[i])
  );
}

/** A gate's verdict on the new events of a batch. */
export type GateVerdict =
  /** Store the first `count` new events (0: none) and keep `keys` with the new head. */
  { kind: 'keep'; count: number; keys: KeyRecord } | { kind: 'refuse'; reason: string; message: string };

/**
 * What a store asks before it stores new events (the hub's signature rules, src/hub/signatures.ts).
 * It is called once the store has decided the batch is neither a duplicate, a gap nor a fork,
 * with the events that follow `head` exactly and the key record kept with that head, while
 * nothing else can move that head (under the device's row lock on PostgreSQL); it must not
 * wait for anything. The store then still checks every kept event's hash and link.
 */
export interface AppendGate {
  decide(device: string, fresh: Envelope[], head: Head, keys: KeyRecord): GateVerdict;
  /**
   * A batch that differs from stored events (`forked` its seqs): whether the store may
   * quarantine it (docs/protocol.md §10.3.1: for an enrolled device only when the batch ends on
   * a signature by a key its chain has had), asked with the same record and under the same
   * lock as `decide`. A refusal stores and quarantines nothing; without it every fork is quarantined.
   */
  fork?(device: string, events: Envelope[], forked: number[], keys: KeyRecord): ForkVerdict;
}

/** A gate's verdict on a forked batch. */
export type ForkVerdict = { kind: 'quarantine' } | { kind: 'refuse'; reason: string; message: string };

/**
 * The event types a device writes by the million (the charts read them from rollups). A
 * device read asking only for other types (the page's timeline: alarms, notes, thresholds,
 * sources, redactions) is answered from each store's index of the rest, not by a scan.
 */
export const DENSE_TYPES: readonly string[] = ['ReadingRecorded', 'PositionRecorded'];

/** Whether a read's type filter leaves out every dense type (so the sparse index answers it). */
export function sparseTypesOnly(types: readonly string[] | undefined): types is readonly string[] {
  return types !== undefined && !types.some((t) => DENSE_TYPES.includes(t));
}

/** One read: a device's events by seq, or the fleet's in fleet (arrival) order. */
export type EventQuery = DeviceQuery | FleetQuery;

export interface DeviceQuery {
  device: string;
  fromSeq?: number;
  toSeq?: number;
  /** Event time bounds, ms since the epoch, both inclusive. */
  since?: number;
  until?: number;
  /** At most this many events. */
  limit?: number;
  /** Only events of these types (none when empty). */
  types?: readonly string[];
  /**
   * Newest first: from `toSeq` (or the head) down to `fromSeq`, `limit` counted from the
   * top, so `toSeq` = the last seq seen − 1 pages backwards.
   */
  reverse?: boolean;
}

export interface FleetQuery {
  fleet: true;
  /** Fleet positions, both inclusive (positions start at 1, without gaps). */
  from?: number;
  to?: number;
  since?: number;
  until?: number;
  limit?: number;
}

export interface StoredEvent {
  /**
   * The event's fleet position: always given by fleet reads; device reads may leave it out
   * (no caller of a device read needs it, and the LevelDB store keeps no index from a
   * device's seq to its position).
   */
  position?: number;
  event: Envelope;
}

/** One stored chain's check, named by its device. */
export type VerifiedChain = VerifyReport & { device: string };

export interface QuarantinedEvent {
  device: string;
  seq: number;
  hash: string;
  /** The envelope as it arrived. */
  event: Envelope;
  /** When it was quarantined (ISO); absent where the store did not record it (older LevelDB stores). */
  at?: string;
}

/** A state as of a time (`time`, ms) or a seq; the head's state without either. */
export interface AsOfQuery {
  time?: number;
  seq?: number;
}

/**
 * Buckets of `bucketMs` aligned to the epoch (1: every reading or fix on its own; else a
 * multiple of a minute, answered from the minute rollups, or the hour ones when a multiple
 * of an hour), from the one holding `from` to the one holding `to`, whole.
 */
export interface BucketRange {
  from: number;
  to: number;
  bucketMs: number;
}

export interface FleetStore {
  /** `leveldb` or `postgres`; where it is (a folder, or the URL without its password). */
  readonly kind: 'leveldb' | 'postgres';
  readonly location: string;

  /** Every device the store holds events of, sorted by id. */
  heads(): Promise<DeviceHead[]>;
  /** One device's durable head; seq 0 and 64 zeros for a device the store does not hold. */
  head(device: string): Promise<Head>;

  /**
   * Verify and store one batch of one device's sealed events (seq-ordered, contiguous,
   * non-empty, as `parseEvents` returns them). Batches of one device are appended one at a
   * time (the ingest queues them per device); devices in parallel. An EventRedacted in the
   * batch purges its target's payload in the same atomic write. With a `gate`, only what it
   * keeps is stored, and the key record it gives is written with the new head.
   */
  append(device: string, events: Envelope[], gate?: AppendGate): Promise<AppendOutcome>;

  /** The key record kept with a device's stored head (NO_KEYS for a device never keyed). */
  keyRecord(device: string): Promise<KeyRecord>;

  /** Events quarantined as forks, of one device or all. */
  quarantined(device?: string): AsyncGenerator<QuarantinedEvent>;

  /**
   * Events in order, in chunks (a chunk is what one read of the store returns; callers
   * write each chunk before asking for the next, so a slow reader holds the store back by
   * at most a chunk). Device reads use the time index for since/until, never a scan of the
   * whole history. Fleet reads never skip or repeat an event, however many writers commit
   * concurrently: positions are readable only once everything before them is.
   */
  events(q: EventQuery): AsyncGenerator<StoredEvent[]>;

  /** The highest fleet position readable (0 for an empty store). */
  fleetHead(): Promise<number>;

  /** A device's state (the console's projection) as of a time or seq. */
  stateAt(device: string, at: AsOfQuery): Promise<{ seq: number; state: DeviceState }>;

  /**
   * Check every stored chain (or one device's) as `fieldlog log verify` does, sorted by
   * device; none for a device the store does not hold.
   */
  verify(device?: string): Promise<VerifiedChain[]>;

  /**
   * Called whenever the fleet head moves (events appended by this process or, for a shared
   * store, by any hub). `batch` carries the events when this process still has them, so a
   * live feed need not read them back; without it, read from the old head. Returns an unsubscribe.
   */
  onAppended(
    listener: (fleetHead: number, batch?: { first: number; events: Envelope[] }) => void,
  ): () => void;

  /** A device's sensors, from its rollups (hour buckets), sorted by name; none for an unknown device. */
  sensors(device: string): Promise<SensorSummary[]>;

  /** One sensor's readings in buckets (see BucketRange): min, max, sum, count; empty ones left out. */
  series(device: string, sensor: string, range: BucketRange): Promise<SeriesData>;

  /** A device's fixes (PositionRecorded, at the event's time) in buckets: the last of each. */
  track(device: string, range: BucketRange): Promise<TrackData>;

  /** Bytes the store takes (for /metrics); undefined when the store cannot tell cheaply. */
  sizeBytes(): Promise<number | undefined>;

  close(): Promise<void>;
}
