// The `nmea` source: an NMEA 0183 GPS receiver on a serial port (docs/protocol.md §8). Sentences are grouped
// into fix epochs; each epoch with a fix becomes one 'position' when the next epoch starts,
// after a second of silence, when the receiver goes away, or at stop().
import { LineSplitter, sampleHex } from '../line-protocol.js';
import { FixEpochs, type Position, parseSentence } from '../nmea.js';
import {
  SerialSource,
  type SerialSourceOptions,
  type SessionControl,
  type SessionHooks,
  type SourceDeps,
} from './source.js';

export interface NmeaSourceOptions extends SerialSourceOptions {
  /** Default 9600, what most receivers ship with (NMEA 0183 itself says 4800). */
  baud?: number;
  /** Silence that closes an epoch. Default 1000 (docs/protocol.md §8). */
  silenceMs?: number;
}

export class NmeaSource extends SerialSource {
  readonly driver = 'nmea' as const;
  readonly #silenceMs: number;
  // One for the source's life, not per session: it remembers the last epoch it closed, so an
  // epoch cut by a disconnect is never recorded a second time from a late sentence.
  readonly #epochs: FixEpochs;

  constructor(options: NmeaSourceOptions, deps: SourceDeps = {}) {
    super(options, 9600, deps);
    this.#silenceMs = options.silenceMs ?? 1000;
    this.#epochs = new FixEpochs({ silenceMs: this.#silenceMs });
  }

  override async stop(): Promise<void> {
    await super.stop();
    this.#report(this.#epochs.flush());
  }

  protected session(control: SessionControl): SessionHooks {
    const clock = this.clock;
    const splitter = new LineSplitter();
    let silence: unknown;
    const silent = (): void => {
      silence = undefined;
      // flush rather than idle(now): the timer is the silence, whatever now() says to the ms.
      if (control.active) this.#report(this.#epochs.flush());
    };
    control.port.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        const sentence = parseSentence(line);
        if (sentence.kind === 'rejected') {
          // Start-up banners and other chatter included: they are what the line carried.
          this.sink({ kind: 'rejected', reason: sentence.reason, sample: sentence.sample });
          continue;
        }
        this.#report(this.#epochs.push(sentence, clock.now()));
        // Only sentences that carry an epoch's time keep it open, as in FixEpochs.
        if (sentence.kind !== 'other' && sentence.time !== undefined) {
          clock.clearTimeout(silence);
          silence = clock.setTimeout(silent, this.#silenceMs);
        }
      }
    });
    return {
      opened: () => control.connected(),
      ended: (stopping) => {
        clock.clearTimeout(silence);
        // The receiver went silent for good: its epoch is as complete as it will get.
        this.#report(this.#epochs.flush());
        const tail = splitter.end();
        if (tail !== undefined && !stopping)
          this.sink({ kind: 'rejected', reason: 'truncated', sample: sampleHex(tail) });
      },
    };
  }

  #report(positions: readonly Position[]): void {
    for (const position of positions) this.sink({ kind: 'position', position });
  }
}
