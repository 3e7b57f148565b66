// The hub's side of replication: every message is validated, every event's hash and link
// checked (by the log's appendSealed), duplicates dropped, gaps answered, forks kept aside
// and never merged; an ack goes out only after the durable write. Nothing a device or an
// attacker publishes can crash the hub or touch what it has stored.
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { isFieldlogError } from '../errors.js';
import type { Envelope } from '../log/envelope.js';
import { ZERO_HASH } from '../log/envelope.js';
import type { EventLog } from '../log/event-log.js';
import {
  type Ack,
  DEFAULT_PREFIX,
  deviceTopic,
  parseEvents,
  parseHello,
  parseStatus,
  parseTopic,
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
}

export interface IngestOptions {
  prefix?: string;
  now?: () => number;
}

interface Tracked {
  fleet: string | null;
  online: boolean;
  lastSeen: number | null;
  claimedHead: number;
  rejects: Record<string, number>;
  forks: number;
  duplicates: number;
}

export class Ingest extends EventEmitter {
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly tracked = new Map<string, Tracked>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly pendingWrites = new Set<Promise<unknown>>();
  private client: MqttClient | null = null;
  private readonly onMessage = (topic: string, payload: Buffer) => this.receive(topic, payload);
  readonly totals = { messages: 0, events: 0, duplicates: 0, forks: 0, rejects: 0, acks: 0 };

  constructor(
    readonly log: EventLog,
    opts: IngestOptions = {},
  ) {
    super();
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.now = opts.now ?? Date.now;
  }

  /** Subscribe on a connected client; call again after a reconnect with a clean session. */
  async attach(client: MqttClient): Promise<void> {
    if (this.client !== client) {
      this.client?.off('message', this.onMessage);
      client.on('message', this.onMessage);
      this.client = client;
    }
    const p = this.prefix;
    await client.subscribeAsync([`${p}/+/+/hello`, `${p}/+/+/events`, `${p}/+/+/status`], { qos: 1 });
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
      t = { fleet, online: false, lastSeen: null, claimedHead: 0, rejects: {}, forks: 0, duplicates: 0 };
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
    if (!t || t.channel === 'ack') return; // not ours to read: acks are what we send
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

  private head(device: string): { seq: number; hash: string } {
    return this.log.hasDevice(device) ? this.log.head(device) : { seq: 0, hash: ZERO_HASH };
  }

  private async handle(fleet: string, device: string, channel: string, payload: Buffer): Promise<void> {
    const t = this.track(device, fleet);
    t.lastSeen = this.now();
    try {
      if (channel === 'status') {
        t.online = parseStatus(payload).online;
        return;
      }
      if (channel === 'hello') {
        t.claimedHead = parseHello(payload).head.seq;
        t.online = true;
        this.ack(fleet, device, this.head(device));
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
   * Events are appended without waiting for the disk, so the next message is checked
   * while this one is written (the log groups them into one fsync); each ack waits for
   * its own write. A batch that reaches into what is not yet written waits for it first.
   */
  private async ingest(fleet: string, device: string, events: Envelope[]): Promise<void> {
    const t = this.track(device, fleet);
    const first = events[0]!;
    if (
      this.log.hasDevice(device) &&
      first.seq <= this.log.pendingHead(device).seq &&
      this.log.pendingHead(device).seq > this.log.head(device).seq
    ) {
      await this.log.flushed();
    }
    const head = this.log.hasDevice(device) ? this.log.pendingHead(device) : { seq: 0, hash: ZERO_HASH };
    // `head` may hold events not yet on disk: every ack but a write's own says only what is
    const held = () => this.head(device);
    const last = events[events.length - 1]!;
    t.claimedHead = Math.max(t.claimedHead, last.seq);
    // what the hub already holds must be the same events, or this is a fork
    const forked: Envelope[] = [];
    let duplicates = 0;
    for (const e of events) {
      if (e.seq > head.seq) break;
      const stored = await this.log.hashAt(e.seq, device);
      if (stored === e.hash) duplicates++;
      else forked.push(e);
    }
    t.duplicates += duplicates;
    this.totals.duplicates += duplicates;
    if (forked.length > 0) {
      for (const e of forked)
        await this.log.putAside('fork', `${device}/${e.seq}/${e.hash}`, JSON.stringify(e));
      t.forks += forked.length;
      this.totals.forks += forked.length;
      this.emit('fork', { device, seqs: forked.map((e) => e.seq) });
      this.ack(fleet, device, held(), 'fork', `seq ${forked[0]!.seq} differs from the stored event`);
      return;
    }
    const fresh = events.filter((e) => e.seq > head.seq);
    if (fresh.length === 0) {
      this.ack(fleet, device, held());
      return;
    }
    if (fresh[0]!.seq !== head.seq + 1) {
      this.ack(fleet, device, held(), 'gap', `expected seq ${head.seq + 1}, got ${fresh[0]!.seq}`);
      return;
    }
    let written: Promise<unknown>;
    try {
      written = this.log.appendSealed(fresh);
      // appendSealed checks synchronously; a refusal rejects at once, before anything is staged
      await Promise.race([written, Promise.resolve()]);
    } catch (err) {
      if (isFieldlogError(err, 'EVENT_INVALID') || isFieldlogError(err, 'CHAIN_BROKEN')) {
        this.reject(device, 'invalid-event', err.message);
        this.ack(fleet, device, held(), 'invalid', err.message.slice(0, 500));
        return;
      }
      throw err;
    }
    // a device's first events create its stream: let that finish before the next message
    if (head.seq === 0) await written.catch(() => {});
    // what is needed once the write is done, and nothing more: the batch itself is not kept
    // (an EventRedacted's purge is part of the same atomic write: see LogStore.stagePurges)
    this.afterWrite(written, fleet, device, fresh[0]!.seq, { seq: last.seq, hash: last.hash });
  }

  private afterWrite(
    written: Promise<unknown>,
    fleet: string,
    device: string,
    from: number,
    upTo: { seq: number; hash: string },
  ): void {
    void written.then(
      () => {
        this.totals.events += upTo.seq - from + 1;
        this.emit('stored', { device, from, to: upTo.seq });
        this.ack(fleet, device, upTo);
      },
      (err: unknown) => this.emit('error', err),
    );
    this.pendingWrites.add(written);
    void written.finally(() => this.pendingWrites.delete(written)).catch(() => {});
  }

  private ack(
    fleet: string,
    device: string,
    head: { seq: number; hash: string },
    error?: NonNullable<Ack['error']>,
    detail?: string,
  ): void {
    const body: Ack = { upTo: head.seq, hash: head.hash };
    if (error) body.error = error;
    if (detail) body.detail = detail;
    this.totals.acks++;
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

  devices(): DeviceInfo[] {
    const names = new Set([...this.log.deviceNames(), ...this.tracked.keys()]);
    return [...names].sort().map((device) => {
      const t = this.tracked.get(device);
      const head = this.head(device);
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
      };
    });
  }
}
