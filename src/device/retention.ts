// The device's retention (README "Running for a year → Retention"): events the hub has
// acknowledged and that are older than `retention.keep` are pruned from the log, oldest
// first (EventLog.prune: the anchor and the projections' states at it stay). The highest
// acknowledged seq comes from the replicator's 'acked' and is kept as a mark in the log, so
// that after a restart pruning does not wait for the hub. Rounds run every minute and soon
// after an ack, each pruning in bounded chunks (appends go on between them), compacting once
// at the end; never the head, never past the synced head (EventLog.prune sees to both).
import { EventEmitter } from 'node:events';
import { fail } from '../errors.js';
import type { EventLog, PruneResult } from '../log/event-log.js';

/** Events per prune call of a round: one call is a few atomic writes of PRUNE_CHUNK. */
const ROUND_CHUNK = 50_000;
/** The mark (EventLog.mark) holding the highest seq the hub acknowledged. */
const ACK_MARK = 'acked';
/**
 * Event types a prune by age alone (`afterAck: false`) never passes while the hub has not
 * acknowledged them: what the disk budget gave up must reach the hub (YEAR13 decisions).
 */
const BUDGET_RECORDS = new Set(['ReadingsPurged', 'ReadingsNotRecorded']);

export interface RetentionConfig {
  keep?: string;
  afterAck?: boolean;
}

export interface RetentionTimers {
  setInterval(cb: () => void, ms: number): unknown;
  clearInterval(h: unknown): void;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

const systemTimers: RetentionTimers = {
  setInterval: (cb, ms) => setInterval(cb, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  setTimeout: (cb, ms) => setTimeout(cb, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const DEFAULT_KEEP = '30d';
export const DURATION_RE = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30d", "12h", "90m", "45s" in ms; CONFIG_INVALID otherwise. */
export function parseDuration(text: string, where = 'retention.keep'): number {
  const m = DURATION_RE.exec(text);
  if (!m) throw fail('CONFIG_INVALID', `${where}: must be a duration like 30d, 12h, 90m or 45s`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

export interface RetentionOptions {
  timers?: RetentionTimers;
  now?: () => number;
  /** How often a round runs without an ack (default a minute). */
  everyMs?: number;
  /** After an ack, a round runs this much later at the earliest (default a second). */
  afterAckMs?: number;
}

export class Retention extends EventEmitter {
  readonly keepMs: number;
  readonly afterAck: boolean;
  private acked = -1;
  private savedAck = -1;
  private total = 0;
  private interval: unknown = null;
  private soon: unknown = null;
  private round: Promise<number> | null = null;
  private stopped = false;
  private readonly timers: RetentionTimers;
  private readonly now: () => number;
  private readonly onPruned = (r: PruneResult) => {
    this.total += r.pruned;
  };

  constructor(
    readonly log: EventLog,
    config: RetentionConfig,
    private readonly opts: RetentionOptions = {},
  ) {
    super();
    this.keepMs = parseDuration(config.keep ?? DEFAULT_KEEP);
    this.afterAck = config.afterAck ?? true;
    this.timers = opts.timers ?? systemTimers;
    this.now = opts.now ?? Date.now;
    // every prune is counted, whoever asked for it (the disk budget prunes too)
    log.on('pruned', this.onPruned);
  }

  /** The highest seq the hub has acknowledged holding, kept across restarts; −1 when unknown. */
  acknowledged(): number {
    return this.acked;
  }

  /** Events pruned from the log since this process started. */
  get prunedTotal(): number {
    return this.total;
  }

  /** Read the kept mark and start the rounds. */
  async start(): Promise<void> {
    const mark = await this.log.mark(ACK_MARK);
    const seq = (mark as { seq?: unknown } | undefined)?.seq;
    if (typeof seq === 'number' && Number.isInteger(seq) && seq >= 0) {
      // never beyond the head: a mark from a log that was replaced is no acknowledgement
      this.acked = this.savedAck = Math.min(seq, this.log.head().seq);
    }
    this.interval = this.timers.setInterval(() => this.schedule(0), this.opts.everyMs ?? 60_000);
    this.schedule(0);
  }

  /**
   * The hub holds events up to `seq` (the replicator's 'acked'). The last ack counts, not
   * the highest: a hub restored from an older copy says it holds less, and nothing it may
   * need again is pruned after that.
   */
  acknowledge(seq: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq === this.acked) return;
    this.acked = seq;
    this.schedule(this.opts.afterAckMs ?? 1000);
  }

  /**
   * Listen to a replicator's acks, and to what a hub says it holds in an ack with an error
   * (a restored hub holding less than was acknowledged, even less than was pruned): only
   * ever lowering the mark, since such an ack is no acknowledgement of anything new.
   */
  follow(replicator: EventEmitter): void {
    replicator.on('acked', (seq: number) => this.acknowledge(seq));
    replicator.on('hub-holds', (seq: number) => {
      if (seq < this.acked) this.acknowledge(seq);
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.soon !== null) return;
    this.soon = this.timers.setTimeout(() => {
      this.soon = null;
      void this.run().catch((err: unknown) => this.emit('error', err));
    }, delayMs);
  }

  /** The last seq a round may prune through now. */
  async target(): Promise<number> {
    const byAge = await this.log.seqAtTime(this.now() - this.keepMs);
    if (this.afterAck) return Math.min(byAge, this.acked);
    // by age alone, but never past a record of the budget the hub has not acknowledged
    const from = (this.log.anchor()?.seq ?? 0) + 1;
    for await (const chunk of this.log.typeChunks({ fromSeq: from, toSeq: byAge })) {
      const held = chunk.find((e) => BUDGET_RECORDS.has(e.type) && e.seq > this.acked);
      if (held) return held.seq - 1;
    }
    return byAge;
  }

  /** One round: prune what may be pruned. Resolves with the number of events pruned. */
  run(): Promise<number> {
    this.round ??= this.prune().finally(() => {
      this.round = null;
    });
    return this.round;
  }

  private async prune(): Promise<number> {
    if (this.log.isClosed) return 0;
    await this.saveMark();
    let pruned = 0;
    const target = await this.target();
    while (!this.stopped && !this.log.isClosed) {
      const anchor = this.log.anchor()?.seq ?? 0;
      if (target <= anchor) break;
      const to = Math.min(target, anchor + ROUND_CHUNK);
      // compacted once, at the end of the round: the range is rewritten once
      const r = await this.log.prune(to, { compact: to === target });
      pruned += r.pruned;
      if (r.pruned === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (pruned > 0) this.emit('pruned', { pruned, anchor: this.log.anchor() });
    return pruned;
  }

  /** The mark moves with the rounds, not with each ack: one write a minute at most, not one per batch. */
  private async saveMark(): Promise<void> {
    if (this.acked === this.savedAck || this.acked < 0 || this.log.isClosed) return;
    const seq = this.acked;
    await this.log.setMark(ACK_MARK, { seq });
    this.savedAck = seq;
  }

  /** Stop the rounds, finish the one running, and keep the mark. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.interval !== null) this.timers.clearInterval(this.interval);
    if (this.soon !== null) this.timers.clearTimeout(this.soon);
    this.soon = null;
    await this.round?.catch(() => {});
    await this.saveMark().catch(() => {});
    this.log.off('pruned', this.onPruned);
  }
}
