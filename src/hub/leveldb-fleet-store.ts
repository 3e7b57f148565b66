// The fleet store in one LevelDB folder (the default): the event log in fleet mode, one
// stream per device plus the fleet's arrival order. Here the hub's answers to a batch are
// decided (duplicate, gap, fork, invalid), so every store gives the same ones; the log
// checks each event's hash and link again as it stages it, and writes the batch with its
// redaction purges in one group commit.
import { fail, isFieldlogError } from '../errors.js';
import { deviceState } from '../log/device-state.js';
import { type Envelope, ZERO_HASH } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { Projector } from '../log/projection.js';
import { sizeOnDisk } from '../log/size-on-disk.js';
import {
  type AppendGate,
  type AppendOutcome,
  type AsOfQuery,
  type DeviceHead,
  type EventQuery,
  type FleetStore,
  type Head,
  type KeyRecord,
  NO_KEYS,
  type QuarantinedEvent,
  type StoredEvent,
  sameKeys,
  type VerifiedChain,
} from './fleet-store.js';

const FORKS = 'fork';
/** The aside key space of each device's key record (JSON), written with the events it covers. */
const KEYS = 'keys';

export interface LevelFleetStoreOptions {
  create?: boolean;
  /** fsync each group commit (default true); tests may trade durability for speed. */
  sync?: boolean;
}

/** Open (with `create`, make) the LevelDB fleet store in folder `dir`. */
export async function openLevelFleetStore(
  dir: string,
  opts: LevelFleetStoreOptions = {},
): Promise<LevelFleetStore> {
  const log = await EventLog.open(dir, {
    create: opts.create ?? false,
    fleet: true,
    sync: opts.sync ?? true,
  });
  return new LevelFleetStore(log, dir);
}

export class LevelFleetStore implements FleetStore {
  readonly kind = 'leveldb' as const;
  readonly location: string;
  /**
   * Each device's key record as of its pending head (the gate decides the next batch while the
   * previous one is written); every change is written with the events it covers.
   */
  private readonly keys = new Map<string, KeyRecord>();

  /** `log` must be open in fleet mode; closing the store closes it. */
  constructor(
    readonly log: EventLog,
    location = log.location ?? 'memory',
  ) {
    this.location = location;
  }

  /** Targets whose payload the repair on open purged (a crash of an older hub between two writes). */
  get repaired(): { device: string; seq: number }[] {
    return this.log.repaired;
  }

  private keysRead: Promise<void> | null = null;

  /** The key records, read once (one per keyed device: a handful of bytes each). */
  private keysLoaded(): Promise<void> {
    this.keysRead ??= (async () => {
      this.keys.clear();
      for await (const [device, value] of this.log.aside(KEYS))
        this.keys.set(device, JSON.parse(value) as KeyRecord);
    })();
    return this.keysRead;
  }

  async keyRecord(device: string): Promise<KeyRecord> {
    await this.keysLoaded();
    return this.keys.get(device) ?? NO_KEYS;
  }

  private held(device: string): Head {
    return this.log.hasDevice(device) ? this.log.head(device) : { seq: 0, hash: ZERO_HASH };
  }

  async heads(): Promise<DeviceHead[]> {
    return this.log
      .deviceNames()
      .map((device) => ({ device, head: this.log.head(device) }))
      .filter((d) => d.head.seq > 0);
  }

  async head(device: string): Promise<Head> {
    return this.held(device);
  }

  async append(device: string, events: Envelope[], gate?: AppendGate): Promise<AppendOutcome> {
    const log = this.log;
    const first = events[0];
    if (first === undefined) return { kind: 'invalid', head: this.held(device), message: 'an empty batch' };
    if (events.some((e) => e.device !== device))
      return { kind: 'invalid', head: this.held(device), message: `every event must be of device ${device}` };
    // what is compared must be on disk: a batch reaching into a write still under way waits for it
    if (
      log.hasDevice(device) &&
      first.seq <= log.pendingHead(device).seq &&
      log.pendingHead(device).seq > log.head(device).seq
    )
      await log.flushed();
    // `head` may hold events not yet written: every answer but a write's own names only what is
    const head = log.hasDevice(device) ? log.pendingHead(device) : { seq: 0, hash: ZERO_HASH };
    const forked: Envelope[] = [];
    let duplicates = 0;
    for (const e of events) {
      if (e.seq > head.seq) break;
      if ((await log.hashAt(e.seq, device)) === e.hash) duplicates++;
      else forked.push(e);
    }
    if (forked.length > 0) {
      for (const e of forked) await log.putAside(FORKS, `${device}/${e.seq}/${e.hash}`, JSON.stringify(e));
      return { kind: 'fork', head: this.held(device), seqs: forked.map((e) => e.seq) };
    }
    const fresh = duplicates === 0 ? events : events.slice(duplicates);
    if (fresh.length === 0) return { kind: 'duplicate', head: this.held(device), duplicates };
    const from = fresh[0]!.seq;
    if (from !== head.seq + 1)
      return { kind: 'gap', head: this.held(device), expected: head.seq + 1, got: from };
    let kept = fresh;
    let keys: KeyRecord | undefined;
    if (gate) {
      await this.keysLoaded();
      const v = gate.decide(device, fresh, head, this.keys.get(device) ?? NO_KEYS);
      if (v.kind === 'refuse')
        return { kind: 'refused', head: this.held(device), reason: v.reason, message: v.message };
      if (v.count === 0) return { kind: 'waiting', head: this.held(device), waiting: fresh.length };
      if (v.count < fresh.length) kept = fresh.slice(0, v.count);
      keys = v.keys;
    }
    let written: Promise<Head>;
    try {
      written = log.appendSealed(
        kept,
        keys && !sameKeys(this.keys.get(device) ?? NO_KEYS, keys)
          ? { namespace: KEYS, key: device, value: JSON.stringify(keys) }
          : undefined,
      );
      // appendSealed checks everything before it stages anything: a refusal rejects at once
      await Promise.race([written, Promise.resolve()]);
    } catch (err) {
      if (isFieldlogError(err, 'EVENT_INVALID') || isFieldlogError(err, 'CHAIN_BROKEN'))
        return { kind: 'invalid', head: this.held(device), message: err.message };
      throw err;
    }
    if (keys && !sameKeys(this.keys.get(device) ?? NO_KEYS, keys)) {
      this.keys.set(device, keys);
      // a failed write leaves the record on disk as it was: so must the one in memory be
      written.catch(() => {
        this.keysRead = null;
      });
    }
    written.catch(() => {}); // the caller hears of a failed write through `written`
    // a device's first batch creates its stream on disk: the next batch waits for it
    if (head.seq === 0) await written.catch(() => {});
    const to = kept[kept.length - 1]!.seq;
    const waiting = fresh.length - kept.length;
    return { kind: 'stored', from, to, duplicates, ...(waiting > 0 ? { waiting } : {}), written };
  }

  async *quarantined(device?: string): AsyncGenerator<QuarantinedEvent> {
    for await (const [key, value] of this.log.aside(FORKS)) {
      const [dev, seq, hash] = key.split('/');
      if (device !== undefined && dev !== device) continue;
      yield { device: dev!, seq: Number(seq), hash: hash!, event: JSON.parse(value) as Envelope };
    }
  }

  async *events(q: EventQuery): AsyncGenerator<StoredEvent[]> {
    // the log's one read (src/log/query.ts): the time index narrows, the filter is exact
    if (!('fleet' in q) && !this.log.hasDevice(q.device)) return;
    if ('fleet' in q && this.log.fleetHead === 0) return;
    yield* this.log.read(q);
  }

  async fleetHead(): Promise<number> {
    return this.log.fleetHead;
  }

  async stateAt(device: string, at: AsOfQuery) {
    if (!this.log.hasDevice(device) || this.log.head(device).seq === 0)
      return { seq: 0, state: deviceState.initial() };
    const r = await new Projector(this.log, deviceState, { device }).stateAt(at);
    return { seq: r.seq, state: r.state };
  }

  async verify(device?: string): Promise<VerifiedChain[]> {
    const names = device === undefined ? (await this.heads()).map((h) => h.device) : [device];
    const out: VerifiedChain[] = [];
    for (const d of names) {
      if (!this.log.hasDevice(d)) continue;
      out.push({ device: d, ...(await this.log.verify(d)) });
    }
    return out;
  }

  onAppended(
    listener: (fleetHead: number, batch?: { first: number; events: Envelope[] }) => void,
  ): () => void {
    const on = (events: Envelope[] | null, first: number | undefined, count: number) => {
      if (first === undefined) return;
      listener(first + count - 1, events ? { first, events } : undefined);
    };
    this.log.on('append', on);
    return () => this.log.off('append', on);
  }

  async sizeBytes(): Promise<number | undefined> {
    // LevelDB's own estimate leaves out its write-ahead log: the folder's files say it all
    if (this.log.location) return sizeOnDisk(this.log.location).catch(() => undefined);
    return this.log.approximateSize();
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}

/** The store over a log already open in fleet mode (the demo, tests). */
export function fleetStoreOver(log: EventLog): LevelFleetStore {
  if (log.isClosed) throw fail('LOG_CLOSED', 'the log is closed');
  return new LevelFleetStore(log);
}
