// The hub's side of replication: every message is validated, then handed to the fleet
// store (any FleetStore: it verifies every event's hash and link, drops duplicates, answers
// gaps, keeps forks aside and never merges them); an ack goes out only after the durable
// write. Nothing a device or an attacker publishes can crash the hub or touch what it has stored.
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { isFieldlogError } from '../errors.js';
import type { AppendGate, FleetStore, Head } from '../hub/fleet-store.js';
import type { Envelope } from '../log/envelope.js';
import { ZERO_HASH } from '../log/envelope.js';
import {
  type Ack,
  DEFAULT_PREFIX,
  deviceTopic,
  parseEvents,
  parseHello,
  parseStatus,
  parseTopic,
  SHORT_ENVELOPES,
} from './messages.js';

export interface DeviceInfo {
  device: string;
  fleet: string | null;
  online: boolean;
  lastSeen: string | null;
  head: { seq: number; hash: string };
  /** What the device last said its head was, minus what the hub holds. */
  lag: number;
  rejects: Record<string, number>;
  forks: number;
  duplicates: number;
  /** Batches answered with a gap (the device rewinds and resends). */
  rewinds: number;
}

export interface IngestOptions {
  prefix?: string;
  now?: () => number;
  /**
   * Take events and hello through the broker's shared subscription of this group, so that
   * several hubs on one store split the fleet; status stays a plain subscription (every hub
   * sees every device come and go). The broker delivers with the plain topic.
   */
  share?: string;
  /**
   * What the store asks before it stores a batch (the signature rules, src/hub/signatures.ts):
   * what it refuses is counted in `rejects` by its reason and answered `invalid`; an unsigned
   * tail it does not keep is not acknowledged (the device sends it again).
   */
  gate?: AppendGate;
  /**
   * The hub's time goes to a device in answer to each hello, and after an ack at most once in
   * this many ms (default 60 000): a minute is what a device's clock may drift unseen while it
   * sends, and 1,000 devices cost 17 small messages a second.
   */
  timeEveryMs?: number;
}

interface Tracked {
  fleet: string | null;
  online: boolean;
  lastSeen: number | null;
  claimedHead: number;
  rejects: Record<string, number>;
  forks: number;
  duplicates: number;
  rewinds: number;
}

export class Ingest extends EventEmitter {
  private readonly prefix: string;
  private readonly share: string | undefined;
  private readonly gate: AppendGate | undefined;
  private readonly now: () => number;
  private readonly timeEveryMs: number;
  /** When the hub last told each device its time (ms, by `now`). */
  private readonly timeSent = new Map<string, number>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly pendingWrites = new Set<Promise<unknown>>();
  private client: MqttClient | null = null;
  private readonly onMessage = (topic: string, payload: Buffer) => this.receive(topic, payload);
  readonly totals = {
    messages: 0,
    events: 0,
    duplicates: 0,
    forks: 0,
    rejects: 0,
    acks: 0,
    waiting: 0,
    times: 0,
  };

  constructor(
    readonly store: FleetStore,
    opts: IngestOptions = {},
  ) {
    super();
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.share = opts.share;
    this.gate = opts.gate;
    this.now = opts.now ?? Date.now;
    this.timeEveryMs = opts.timeEveryMs ?? 60_000;
  }

  /** Subscribe on a connected client; call again after a reconnect with a clean session. */
  async attach(client: MqttClient): Promise<void> {
    if (this.client !== client) {
      this.client?.off('message', this.onMessage);
      client.on('message', this.onMessage);
      this.client = client;
    }
    const p = this.prefix;
    const shared = this.share === undefined ? '' : `$share/${this.share}/`;
    await client.subscribeAsync([`${shared}${p}/+/+/hello`, `${shared}${p}/+/+/events`, `${p}/+/+/status`], {
      qos: 1,
    });
  }

  detach(): void {
    this.client?.off('message', this.onMessage);
    this.client = null;
  }

  /** Resolves when every message received so far has been handled. */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()]);
    await Promise.allSettled([...this.pendingWrites]);
  }

  private track(device: string, fleet: string | null): Tracked {
    let t = this.tracked.get(device);
    if (!t) {
      t = {
        fleet,
        online: false,
        lastSeen: null,
        claimedHead: 0,
        rejects: {},
        forks: 0,
        duplicates: 0,
        rewinds: 0,
      };
      this.tracked.set(device, t);
    }
    if (fleet !== null) t.fleet = fleet;
    return t;
  }

  private reject(device: string, reason: string, detail: string): void {
    const t = this.track(device, null);
    t.rejects[reason] = (t.rejects[reason] ?? 0) + 1;
    this.totals.rejects++;
    this.emit('rejected', { device, reason, detail });
  }

  /** Handle one message; per device in arrival order, devices in parallel. */
  receive(topic: string, payload: Buffer): void {
    this.totals.messages++;
    const t = parseTopic(this.prefix, topic);
    // not ours to read: acks and times are what we send
    if (!t || t.channel === 'ack' || t.channel === 'time') return;
    const prev = this.queues.get(t.device) ?? Promise.resolve();
    const next = prev
      .then(() => this.handle(t.fleet, t.device, t.channel, payload))
      .catch((err: unknown) => {
        // never crash on input; a store failure is reported and the device will resend
        this.emit('error', err);
      });
    this.queues.set(t.device, next);
    void next.then(() => {
      if (this.queues.get(t.device) === next) this.queues.delete(t.device);
    });
  }

  private async handle(fleet: string, device: string, channel: string, payload: Buffer): Promise<void> {
    const t = this.track(device, fleet);
    t.lastSeen = this.now();
    try {
      const was = t.online;
      if (channel === 'status') {
        t.online = parseStatus(payload).online;
        if (t.online !== was) this.emit('online', device);
        return;
      }
      if (channel === 'hello') {
        t.claimedHead = parseHello(payload).head.seq;
        t.online = true;
        if (!was) this.emit('online', device);
        this.timeSent.delete(device); // every hello is answered with the time, then the ack
        this.ack(fleet, device, await this.store.head(device));
        return;
      }
      await this.ingest(fleet, device, parseEvents(payload, device).events);
    } catch (err) {
      if (isFieldlogError(err, 'SYNC_MESSAGE_INVALID')) {
        this.reject(device, channel === 'events' ? 'malformed-events' : `malformed-${channel}`, err.message);
        return;
      }
      throw err;
    }
  }

  /**
   * The store decides (stored, duplicate, gap, fork, invalid) without waiting for the disk,
   * so the next message is checked while this one is written (one group commit for many);
   * each ack waits for its own write. Every other answer names what the store holds durably.
   */
  private async ingest(fleet: string, device: string, events: Envelope[]): Promise<void> {
    const t = this.track(device, fleet);
    t.claimedHead = Math.max(t.claimedHead, events[events.length - 1]!.seq);
    const r = await this.store.append(device, events, this.gate);
    const duplicates = r.kind === 'stored' || r.kind === 'duplicate' ? r.duplicates : 0;
    t.duplicates += duplicates;
    this.totals.duplicates += duplicates;
    switch (r.kind) {
      case 'stored':
        if (r.waiting) this.totals.waiting += r.waiting;
        this.afterWrite(r.written, fleet, device, r.from, r.to);
        return;
      case 'waiting':
        // nothing ends on a valid signature yet: what is held, without an error (the device
        // sends the batch again once its ack times out, by then ending on a signature)
        this.totals.waiting += r.waiting;
        this.ack(fleet, device, r.head);
        return;
      case 'refused':
        this.reject(device, r.reason, r.message);
        this.ack(fleet, device, r.head, 'invalid', r.message.slice(0, 500));
        return;
      case 'duplicate':
        this.ack(fleet, device, r.head);
        return;
      case 'gap':
        // the device rewinds to what the hub holds: counted, a storm of them means trouble
        t.rewinds++;
        this.ack(fleet, device, r.head, 'gap', `expected seq ${r.expected}, got ${r.got}`);
        return;
      case 'fork':
        t.forks += r.seqs.length;
        this.totals.forks += r.seqs.length;
        this.emit('fork', { device, seqs: r.seqs });
        this.ack(fleet, device, r.head, 'fork', `seq ${r.seqs[0]} differs from the stored event`);
        return;
      case 'invalid':
        this.reject(device, 'invalid-event', r.message);
        this.ack(fleet, device, r.head, 'invalid', r.message.slice(0, 500));
        return;
    }
  }

  private afterWrite(written: Promise<Head>, fleet: string, device: string, from: number, to: number): void {
    void written.then(
      (head) => {
        this.totals.events += to - from + 1;
        this.emit('stored', { device, from, to });
        this.ack(fleet, device, head);
      },
      (err: unknown) => this.emit('error', err),
    );
    this.pendingWrites.add(written);
    void written.finally(() => this.pendingWrites.delete(written)).catch(() => {});
  }

  private ack(
    fleet: string,
    device: string,
    head: Head,
    error?: NonNullable<Ack['error']>,
    detail?: string,
  ): void {
    const body: Ack = { upTo: head.seq, hash: head.hash };
    if (error) body.error = error;
    if (detail) body.detail = detail;
    this.totals.acks++;
    // the time first: it says what this hub takes (short envelopes), so a device answered
    // after its hello sends its first batches in the short form already
    this.sayTime(fleet, device);
    // Not awaited: the write it confirms is already durable, and a PUBACK lost with the
    // connection must not stall this device's queue; a lost ack only makes the device resend.
    this.client?.publish(
      deviceTopic(this.prefix, fleet, device, 'ack'),
      JSON.stringify(body),
      { qos: 1 },
      (err) => {
        if (err) this.emit('ack-failed', { device, error: err.message });
      },
    );
  }

  /**
   * The hub's clock on the device's own `time` channel (docs/protocol.md §10.6), never in the
   * ack: a device of an earlier release refuses an ack with a key it does not know. QoS 0 and
   * not retained: a time that arrives late or from the broker's memory is worse than none.
   * It also says that this hub takes short envelopes (§10.7), for the same reason.
   */
  private sayTime(fleet: string, device: string): void {
    const now = this.now();
    const last = this.timeSent.get(device);
    if (last !== undefined && now - last < this.timeEveryMs) return;
    this.timeSent.set(device, now);
    this.totals.times++;
    this.client?.publish(
      deviceTopic(this.prefix, fleet, device, 'time'),
      JSON.stringify({ time: new Date(now).toISOString(), accepts: [SHORT_ENVELOPES] }),
      { qos: 0 },
      () => {},
    );
  }

  /** Call `listener` with a device's id when it goes online or offline; returns the unsubscribe. */
  onOnline(listener: (device: string) => void): () => void {
    this.on('online', listener);
    return () => this.off('online', listener);
  }

  /** Every device the store holds or the hub has heard from, sorted by id. */
  async devices(): Promise<DeviceInfo[]> {
    const heads = new Map((await this.store.heads()).map((h) => [h.device, h.head]));
    const names = new Set([...heads.keys(), ...this.tracked.keys()]);
    return [...names].sort().map((device) => {
      const t = this.tracked.get(device);
      const head = heads.get(device) ?? { seq: 0, hash: ZERO_HASH };
      return {
        device,
        fleet: t?.fleet ?? null,
        online: t?.online ?? false,
        lastSeen: t?.lastSeen ? new Date(t.lastSeen).toISOString() : null,
        head,
        lag: Math.max(0, (t?.claimedHead ?? 0) - head.seq),
        rejects: { ...(t?.rejects ?? {}) },
        forks: t?.forks ?? 0,
        duplicates: t?.duplicates ?? 0,
        rewinds: t?.rewinds ?? 0,
      };
    });
  }
}
