// The device's side of replication. The log is the outbox: events stream from it to the
// hub in bounded batches, a window of them in flight, and the hub's acks say what it
// holds durably. Acks are checked against the device's own chain: a forged or confused
// ack can make the device resend, never skip. The broker is never trusted to keep anything.
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ZERO_HASH } from '../log/envelope.js';
import type { EventLog, JsonEvent } from '../log/event-log.js';
import { signHash } from '../log/signing.js';
import {
  type Ack,
  type Channel,
  DEFAULT_PREFIX,
  deviceTopic,
  eventsBody,
  type HubTime,
  parseAck,
  parseHubTime,
  SHORT_ENVELOPES,
  withPrev,
} from './messages.js';

export interface ReplicatorTimers {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export interface ReplicatorOptions {
  url: string;
  fleet: string;
  prefix?: string;
  /** Extra MQTT options: username, password, ca, cert, key (PEM text), rejectUnauthorized. */
  mqtt?: Partial<IClientOptions>;
  batchEvents?: number;
  batchBytes?: number;
  window?: number;
  /**
   * Events read from the log ahead of sending, at most (default: up to the head). A process
   * running many replicators (the simulated fleet) bounds its memory with it: a reader holds
   * the JSON of every event it has read ahead.
   */
  readAhead?: number;
  ackTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number; jitter: number };
  timers?: ReplicatorTimers;
  random?: () => number;
}

export interface SyncStatus {
  connected: boolean;
  /** What the hub holds durably, by its last accepted ack (-1: not known yet). */
  acked: number;
  head: number;
  backlog: number;
  inFlight: number;
  rejectedAcks: number;
  lastError?: string;
}

const systemTimers: ReplicatorTimers = {
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Replicator extends EventEmitter {
  private client: MqttClient | null = null;
  private connected = false;
  private stopped = false;
  private acked = -1;
  private next = 1;
  /** Batches sent and not yet acknowledged, with the device's own hash of each last event. */
  private inflight: { from: number; to: number; hash: string }[] = [];
  private pumping = false;
  private again = false;
  private attempt = 0;
  private reconnectTimer: unknown = null;
  private ackTimer: unknown = null;
  private helloTimer: unknown = null;
  private pausedUntilRetry = false;
  private rejectedAcks = 0;
  /**
   * The hub said, since this connection, that it takes short envelopes (docs/protocol.md
   * §10.7): batches leave out what it can restore (a third of their bytes, and the payload
   * hashes of the digests). Off at every connect, and after an ack timeout: a hub of an
   * earlier release sharing the fleet would drop such batches unanswered.
   */
  private short = false;
  private lastError: string | undefined;
  private readonly o: Required<Omit<ReplicatorOptions, 'mqtt' | 'prefix'>> & {
    prefix: string;
    mqtt: Partial<IClientOptions>;
  };
  private readonly device: string;
  // 'synced', not 'append': only what a power cut cannot take back leaves the device
  private readonly onAppend = () => this.pump();

  constructor(
    readonly log: EventLog,
    opts: ReplicatorOptions,
  ) {
    super();
    const device = log.device;
    if (device === undefined) throw new Error('the replicator needs a log with one device');
    this.device = device;
    this.o = {
      url: opts.url,
      fleet: opts.fleet,
      prefix: opts.prefix ?? DEFAULT_PREFIX,
      mqtt: opts.mqtt ?? {},
      batchEvents: opts.batchEvents ?? 1000,
      // under 128 KiB: V8 builds and parses larger strings several times slower per byte
      batchBytes: opts.batchBytes ?? 120 * 1024,
      window: opts.window ?? 64,
      readAhead: opts.readAhead ?? Number.POSITIVE_INFINITY,
      ackTimeoutMs: opts.ackTimeoutMs ?? 10_000,
      backoff: opts.backoff ?? { initialMs: 500, maxMs: 60_000, jitter: 0.2 },
      timers: opts.timers ?? systemTimers,
      random: opts.random ?? Math.random,
    };
  }

  private topic(channel: Channel): string {
    return deviceTopic(this.o.prefix, this.o.fleet, this.device, channel);
  }

  private statusPayload(online: boolean): string {
    return JSON.stringify({ online, boot: this.log.boot, time: new Date().toISOString() });
  }

  status(): SyncStatus {
    const head = this.log.head().seq;
    const s: SyncStatus = {
      connected: this.connected,
      acked: this.acked,
      head,
      backlog: head - Math.max(0, this.acked),
      inFlight: this.inflight.length,
      rejectedAcks: this.rejectedAcks,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  start(): void {
    if (this.client) return;
    this.log.on('synced', this.onAppend);
    const client = mqtt.connect(this.o.url, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0, // reconnects are ours: exponential, with jitter
      connectTimeout: 10_000,
      clientId: `fieldlog-${this.device}-${this.log.boot}`,
      will: {
        topic: this.topic('status'),
        payload: Buffer.from(this.statusPayload(false)),
        qos: 1,
        retain: true,
      },
      ...this.o.mqtt,
    });
    this.client = client;
    client.on('connect', () => void this.onConnect());
    client.on('message', (topic, payload, packet) => {
      if (topic === this.topic('ack')) this.onAck(payload);
      else if (topic === this.topic('time')) this.onHubTime(payload, packet.retain);
    });
    client.on('close', () => this.onClose());
    client.on('error', (err) => {
      this.lastError = err.message;
      this.emit('sync-error', err);
    });
  }

  private async onConnect(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.attempt = 0;
    try {
      await client.subscribeAsync(this.topic('ack'), { qos: 1 });
      // QoS 0: a time the broker kept for later is worse than none. A hub before issue 13
      // never publishes it, and a broker's ACL may refuse it: replication works without.
      await client.subscribeAsync(this.topic('time'), { qos: 0 }).catch(() => {});
      await client.publishAsync(this.topic('status'), this.statusPayload(true), { qos: 1, retain: true });
      this.connected = true;
      this.acked = -1; // the hub says what it holds in answer to hello
      this.inflight = [];
      this.short = false; // until this connection's hub says otherwise
      this.sayHello();
      this.emit('connected');
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  /**
   * Hello until the hub answers: a hub that reconnects to the broker after the device did
   * would otherwise never hear it, and nothing would ever be sent.
   */
  private sayHello(): void {
    const client = this.client;
    if (!client || !this.connected || this.stopped || this.acked >= 0) return;
    client.publish(
      this.topic('hello'),
      JSON.stringify({ head: this.log.syncedHead() }),
      { qos: 1 },
      () => {},
    );
    if (this.helloTimer !== null) this.o.timers.clearTimeout(this.helloTimer);
    this.helloTimer = this.o.timers.setTimeout(
      () => {
        this.helloTimer = null;
        this.sayHello();
      },
      Math.min(this.o.ackTimeoutMs, 5000),
    );
  }

  private onClose(): void {
    const was = this.connected;
    this.connected = false;
    this.inflight = [];
    this.clearAckTimer();
    if (was) this.emit('disconnected');
    if (this.stopped || !this.client) return;
    const b = this.o.backoff;
    const base = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(this.attempt++, 20));
    const delay = Math.round(base * (1 + b.jitter * (2 * this.o.random() - 1)));
    this.reconnectTimer = this.o.timers.setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.client?.reconnect();
    }, delay);
  }

  /**
   * The device's own hash at `seq`. An ack names the end of a batch in flight, whose hash
   * was read with it: only other acks cost a read of the log (a catch-up's thousand acks
   * cost as much device CPU as reading the events).
   */
  private async ownHash(seq: number): Promise<string | undefined> {
    if (seq === 0) return ZERO_HASH;
    for (const b of this.inflight) if (b.to === seq) return b.hash;
    return this.log.hashAt(seq);
  }

  private ackChain: Promise<void> = Promise.resolve();

  /** Acks are checked one after another, in the order they arrived. */
  private onAck(payload: Buffer): void {
    this.ackChain = this.ackChain
      .then(() => this.handleAck(payload))
      .catch((err: unknown) => {
        // the device's own log could not be read: not the hub's doing nor the network's
        this.lastError = (err as Error).message;
        this.emit('internal-error', err);
      });
  }

  private async handleAck(payload: Buffer): Promise<void> {
    await (async () => {
      let ack: Ack;
      try {
        ack = parseAck(payload);
      } catch (err) {
        return this.refuse((err as Error).message);
      }
      const head = this.log.head().seq;
      if (ack.upTo > head) return this.refuse(`ack up to ${ack.upTo} is beyond the head ${head}`);
      const anchor = this.log.anchor();
      if (anchor !== null && ack.upTo < anchor.seq) return this.behindAnchor(ack.upTo, anchor.seq);
      if ((await this.ownHash(ack.upTo)) !== ack.hash)
        return this.refuse(`ack hash at ${ack.upTo} is not this device's`);
      // Below what a hub already acknowledged in this session: a late ack. Several hubs
      // sharing the fleet ack consecutive batches of one device, and their acks may cross on
      // the way; resending from it would send again what is held. A hub that really holds
      // less (restored from an older copy) answers the next batch with a gap, and every
      // reconnect starts from the hello's answer.
      if (!ack.error && ack.upTo < this.acked) return;
      this.clearAckTimer();
      if (ack.error) {
        // the hub holds 1..upTo; resend from there, after a pause for anything but a gap
        this.lastError = `hub: ${ack.error}${ack.detail ? ` (${ack.detail})` : ''}`;
        this.emit('sync-error', new Error(this.lastError));
        // what the hub holds on disk, even when less than before (retention must know)
        this.emit('hub-holds', ack.upTo);
        this.acked = ack.upTo;
        this.next = ack.upTo + 1;
        this.inflight = [];
        if (ack.error !== 'gap') {
          this.pausedUntilRetry = true;
          this.o.timers.setTimeout(() => {
            this.pausedUntilRetry = false;
            this.pump();
          }, this.o.backoff.initialMs * 4);
          return;
        }
      } else {
        this.acked = ack.upTo;
        this.inflight = this.inflight.filter((b) => b.to > ack.upTo);
        if (this.next <= ack.upTo) this.next = ack.upTo + 1;
        // what is still in flight is watched anew, even when nothing more is sent after it
        if (this.inflight.length > 0) this.armAckTimer();
        this.emit('acked', ack.upTo);
      }
      this.pump();
    })();
  }

  /**
   * The hub holds less than this device pruned (README "Retention": only acknowledged events
   * are pruned, so the hub was restored from an older copy, or another hub answers): its
   * hash at `upTo` cannot be checked, and the events it lacks are no longer here. Said in one
   * line, then sent from the anchor, after a pause each time: the hub will answer with a gap
   * until it gets the missing events from elsewhere.
   */
  private behindAnchor(upTo: number, anchor: number): void {
    this.clearAckTimer();
    const line = `the hub holds seqs up to ${upTo}, but seqs 1..${anchor} were pruned here after a hub acknowledged them: sending from seq ${anchor + 1}`;
    if (this.lastError !== line) {
      this.lastError = line;
      this.emit('sync-error', new Error(line));
      this.emit('behind-anchor', line);
    }
    this.emit('hub-holds', upTo);
    this.acked = upTo;
    this.next = anchor + 1;
    this.inflight = [];
    this.pausedUntilRetry = true;
    this.o.timers.setTimeout(() => {
      this.pausedUntilRetry = false;
      this.pump();
    }, this.o.backoff.initialMs * 4);
  }

  /**
   * The hub's clock (docs/protocol.md §10.6), as `'hub-time'` with ms since the epoch. A
   * retained copy is old news, so is anything before the connection is up; a malformed one is
   * reported and changes nothing.
   */
  private onHubTime(payload: Buffer, retained: boolean): void {
    if (!this.connected || retained) return;
    let time: HubTime;
    try {
      time = parseHubTime(payload);
    } catch (err) {
      this.emit('rejected-time', (err as Error).message);
      return;
    }
    this.short = time.accepts?.includes(SHORT_ENVELOPES) ?? false;
    this.emit('hub-time', Date.parse(time.time));
  }

  private refuse(why: string): void {
    this.rejectedAcks++;
    this.emit('rejected-ack', why);
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== null) this.o.timers.clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }

  private armAckTimer(): void {
    if (this.ackTimer !== null) return;
    this.ackTimer = this.o.timers.setTimeout(() => {
      this.ackTimer = null;
      if (this.inflight.length > 0) {
        // nothing acknowledged in time: whatever was in flight may be lost, or dropped
        // unanswered by a hub that cannot read short envelopes (one of several sharing the
        // fleet): whole ones until a hub says again that it takes them
        this.inflight = [];
        this.short = false;
        this.next = this.acked + 1;
        this.pump();
      }
    }, this.o.ackTimeoutMs);
  }

  /** Send what the window allows. Re-entrant calls fold into one more round. */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.sendWhatFits();
        } while (this.again);
      } catch (err) {
        // only reading the log throws here (publishing reports through its callback)
        this.lastError = (err as Error).message;
        this.emit('sync-error', err);
        this.emit('internal-error', err);
      } finally {
        this.pumping = false;
      }
    })();
  }

  /**
   * Envelopes as JSON from `from` on, read ahead in the log's chunks and kept across
   * batches: a batch takes what fits, the next starts with the rest. A rewind (a gap, a
   * lost ack, a reconnect) drops what was read ahead. `ahead[aheadAt..]` and then the
   * reader hand out consecutive seqs from `readNext`.
   */
  private ahead: JsonEvent[] = [];
  private aheadAt = 0;
  private reader: AsyncGenerator<JsonEvent[]> | null = null;
  /** The form the reader makes (short or whole envelopes). */
  private readerShort = false;
  private readNext = 0;

  private async dropReader(): Promise<void> {
    const r = this.reader;
    this.reader = null;
    this.ahead = [];
    this.aheadAt = 0;
    if (r) await r.return(undefined);
  }

  private async readBatch(
    from: number,
    head: number,
  ): Promise<{ to: number; hash: string; parts: string[] }> {
    if (this.readNext !== from || this.readerShort !== this.short) await this.dropReader();
    const parts: string[] = [];
    let hash = '';
    let bytes = 0;
    const last = Math.min(head, from + this.o.batchEvents - 1);
    this.readNext = from;
    // the batch's last signed event, and where reading stood just after it
    let signedEnd: { parts: number; hash: string; ahead: unknown[]; aheadAt: number; next: number } | null =
      null;
    while (this.readNext <= last) {
      if (this.aheadAt >= this.ahead.length) {
        // a reader from an earlier call stops at the head it was opened with: then open anew
        const opened = this.reader === null;
        if (opened) this.readerShort = this.short;
        this.reader ??= this.log.eventsJson({
          fromSeq: this.readNext,
          toSeq: Math.min(head, this.readNext + this.o.readAhead - 1),
          short: this.readerShort,
        });
        const r = await this.reader.next();
        this.ahead = r.done ? [] : r.value;
        this.aheadAt = 0;
        if (r.done) {
          this.reader = null;
          if (opened) break;
        }
        continue;
      }
      const e = this.ahead[this.aheadAt]!;
      if (parts.length > 0 && bytes + e.json.length > this.o.batchBytes) break;
      // a batch's first short envelope carries its prev (what every later one restores from)
      parts.push(parts.length === 0 && this.readerShort ? withPrev(e.json, e.prev) : e.json);
      hash = e.hash;
      bytes += e.json.length + 1;
      this.aheadAt++;
      this.readNext = e.seq + 1;
      if (e.signed)
        signedEnd = {
          parts: parts.length,
          hash,
          ahead: this.ahead,
          aheadAt: this.aheadAt,
          next: this.readNext,
        };
    }
    await this.endSigned(parts, signedEnd);
    if (signedEnd !== null && signedEnd.parts === parts.length) hash = signedEnd.hash;
    return { to: this.readNext - 1, hash, parts };
  }

  /**
   * Every batch of a signing device ends on a signature (docs/protocol.md §2.4), so that
   * each prefix the hub acknowledges is signed: cut back to the batch's last signed event,
   * or, when it has none (one group commit larger than a batch), sign its last event now.
   * That signature travels with the copy only: `sig` is not hashed, the chain is unchanged.
   */
  private async endSigned(
    parts: string[],
    signedEnd: { parts: number; hash: string; ahead: unknown[]; aheadAt: number; next: number } | null,
  ): Promise<void> {
    const signer = this.log.signer();
    if (signer === undefined || parts.length === 0) return;
    if (signedEnd !== null) {
      if (signedEnd.parts === parts.length) return;
      parts.length = signedEnd.parts;
      if (signedEnd.ahead === this.ahead) this.aheadAt = signedEnd.aheadAt;
      else await this.dropReader();
      this.readNext = signedEnd.next;
      return;
    }
    // before the key in force (an old log's unsigned prefix) there is nothing to sign with
    if (this.readNext - 1 < signer.from) return;
    const lastJson = parts[parts.length - 1]!;
    const hash = /"hash":"([0-9a-f]{64})"\}$/.exec(lastJson)?.[1];
    if (hash === undefined) return;
    parts[parts.length - 1] =
      `${lastJson.slice(0, -1)},"sig":"${signHash(signer.identity.privateKey, hash)}"}`;
  }

  private async sendWhatFits(): Promise<void> {
    const client = this.client;
    while (client && this.connected && !this.stopped && !this.pausedUntilRetry && this.acked >= 0) {
      if (this.next <= this.acked) this.next = this.acked + 1;
      // a pruned log starts after its anchor (see behindAnchor)
      const floor = (this.log.anchor()?.seq ?? 0) + 1;
      if (this.next < floor) this.next = floor;
      // in the low-wear mode events written but not yet fsynced wait for the next fsync: the
      // hub must never hold an event a power cut could take from the device (a fork on restart)
      const head = this.log.syncedHead().seq;
      if (this.inflight.length >= this.o.window || this.next > head) return;
      const from = this.next;
      const { to, hash, parts } = await this.readBatch(from, head);
      if (parts.length === 0) return;
      // the state may have moved while the log was read (an ack with an error, a close)
      if (this.next !== from || !this.connected || this.stopped) continue;
      this.inflight.push({ from, to, hash });
      this.next = to + 1;
      this.armAckTimer();
      // a Buffer, not a string: MQTT.js would otherwise measure the text, then encode it
      const body = eventsBody(this.device, parts);
      // not awaited: a PUBACK lost with the connection would hold the pump forever; the
      // window bounds what is outstanding, and the hub's ack (not the broker's) is what counts
      client.publish(this.topic('events'), body, { qos: 1 }, (err) => {
        if (err) this.lastError = err.message;
      });
    }
  }

  /** Say offline, disconnect, stop retrying. What is not acknowledged stays in the log. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.off('synced', this.onAppend);
    await this.dropReader().catch(() => {});
    this.clearAckTimer();
    if (this.helloTimer !== null) this.o.timers.clearTimeout(this.helloTimer);
    if (this.reconnectTimer !== null) this.o.timers.clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (!client) return;
    if (this.connected) {
      await Promise.race([
        client
          .publishAsync(this.topic('status'), this.statusPayload(false), { qos: 1, retain: true })
          .catch(() => {}),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    }
    await client.endAsync(true);
    this.connected = false;
  }
}
