// The hub's per-device state cache: the console's projection (device-state.ts) of each
// device, kept in memory so that `/devices` and `/devices/live` can show alarms and
// position without folding whole histories on every request. A device's state is loaded
// from the store on first use (store.stateAt, which may start from a snapshot), advanced
// from the batches this hub stores (store.onAppended, while a live client follows), and
// caught up from the store (only the events after what it folded) whenever the store's head
// for the device is beyond it (another hub on a shared PostgreSQL store ingested them, the
// batch was not kept, or nobody followed). An EventRedacted makes the device load again:
// the purge may take away what the cache still holds (a position, a note).
import type { DeviceState } from '../log/device-state.js';
import { foldDeviceEvent } from '../log/device-state.js';
import type { Envelope } from '../log/envelope.js';
import { foldEventOf } from '../log/reader.js';
import type { FleetStore } from './fleet-store.js';

interface Entry {
  state: DeviceState;
  /** The last seq folded into `state`. */
  seq: number;
  /** Load again from the store before the next answer (a redaction went by). */
  stale: boolean;
}

export class DeviceStates {
  private readonly entries = new Map<string, Entry>();
  /** Devices being loaded or caught up: the batches appended meanwhile are left to that read. */
  private readonly busy = new Map<string, Promise<void>>();
  private followers = 0;
  private off: (() => void) | null = null;

  constructor(private readonly store: FleetStore) {}

  /**
   * Advance by the batches as they are stored, while someone follows (a `/devices/live`
   * client); returns the unfollow. Without followers each answer catches up from the store
   * instead: a LevelDB store keeps a batch's envelopes for its listeners until written, and
   * a hub nobody watches need not.
   */
  follow(): () => void {
    if (this.followers++ === 0)
      this.off = this.store.onAppended((_head, batch) => {
        if (batch) this.fold(batch.events);
      });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.followers === 0) {
        this.off?.();
        this.off = null;
      }
    };
  }

  /** Advance cached devices by events just stored, where they follow what is folded. */
  private fold(events: Envelope[]): void {
    for (const e of events) {
      const entry = this.entries.get(e.device);
      if (!entry || entry.stale || this.busy.has(e.device) || e.seq !== entry.seq + 1) continue;
      if (e.type === 'EventRedacted') {
        entry.stale = true;
        continue;
      }
      foldDeviceEvent(entry.state, foldEventOf(e));
      entry.seq = e.seq;
    }
  }

  /**
   * The device's state, at least as far as `head` (the store's head for it, as the caller
   * read it). The object is the cache's own: read it, do not keep or change it.
   */
  async get(device: string, head: number): Promise<DeviceState> {
    for (;;) {
      const pending = this.busy.get(device);
      if (pending) {
        await pending;
        continue;
      }
      const entry = this.entries.get(device);
      if (entry && !entry.stale && entry.seq >= head) return entry.state;
      const work = this.advance(device, entry, head).finally(() => this.busy.delete(device));
      this.busy.set(device, work);
      await work;
      const done = this.entries.get(device);
      // the store may answer less than `head` (a write not readable yet): what it had is kept
      if (done) return done.state;
    }
  }

  private async advance(device: string, entry: Entry | undefined, head: number): Promise<void> {
    if (!entry || entry.stale) {
      const r = await this.store.stateAt(device, {});
      this.entries.set(device, { state: r.state, seq: r.seq, stale: false });
      return;
    }
    for await (const chunk of this.store.events({ device, fromSeq: entry.seq + 1, toSeq: head })) {
      for (const { event } of chunk) {
        if (event.seq !== entry.seq + 1) return;
        if (event.type === 'EventRedacted') {
          const r = await this.store.stateAt(device, {});
          this.entries.set(device, { state: r.state, seq: r.seq, stale: false });
          return;
        }
        foldDeviceEvent(entry.state, foldEventOf(event));
        entry.seq = event.seq;
      }
    }
  }

  /** Devices cached (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }
}
