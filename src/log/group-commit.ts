// The one path to disk for a log's events: appends from many callers (a device's own
// appends, a hub's sealed batches, redactions and their purges) are staged into one pending
// batch, written as one atomic write per turn of the event loop, and each caller's promise
// resolves only once the batch holding its events is on disk. A failed write fails that
// batch and everything queued after it (their seqs and links depended on it). What a batch
// holds and what a write means for the log's state are the stager's (stager.ts, by hooks);
// the queueing, the one-writer-at-a-time loop and the waiters are here.

export interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface CommitBatch {
  ops: unknown[];
  waiters: Waiter[];
}

export interface CommitHooks<B extends CommitBatch> {
  newBatch(): B;
  /**
   * Finish a batch about to be written (its synchronous part runs before any later append
   * is staged) and return what to do once it is on disk.
   */
  prepare(batch: B): Promise<() => void>;
  write(batch: B): Promise<void>;
  /** The write failed: undo what `batch` and `later` staged and reject their waiters. */
  failed(batch: B, later: B, cause: unknown): void;
  /** After the waiters of a written batch are resolved. */
  written(batch: B): void;
}

export class GroupCommit<B extends CommitBatch> {
  pending: B;
  private writing = false;
  private scheduled = false;

  constructor(private readonly hooks: CommitHooks<B>) {
    this.pending = hooks.newBatch();
  }

  /** Resolves with `value` once everything staged so far is written. */
  whenWritten<T>(value: T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.waiters.push({ resolve: () => resolve(value), reject });
      this.schedule();
    });
  }

  /** Resolves when everything staged so far is on disk (or has failed). */
  async flushed(): Promise<void> {
    if (this.pending.waiters.length === 0 && !this.writing) return;
    await new Promise<void>((resolve) => {
      this.pending.waiters.push({ resolve, reject: () => resolve() });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.ops.length > 0 || this.pending.waiters.length > 0) {
        const batch = this.pending;
        this.pending = this.hooks.newBatch();
        let done: () => void;
        try {
          done = await this.hooks.prepare(batch);
          if (batch.ops.length > 0) await this.hooks.write(batch);
        } catch (err) {
          const later = this.pending;
          this.pending = this.hooks.newBatch();
          this.hooks.failed(batch, later, err);
          continue;
        }
        done();
        for (const w of batch.waiters) w.resolve();
        this.hooks.written(batch);
      }
    } finally {
      this.writing = false;
    }
  }
}
