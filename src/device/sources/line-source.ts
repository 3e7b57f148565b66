// The `line` source: a fieldlog sensor node (line protocol v1, docs/protocol.md §7) on a serial port.
// Turns its frames into readings, lost-frame gaps, identities, faults and answers; everything
// else on the line becomes a 'rejected' event, never a reading.
import { fail } from '../../errors.js';
import {
  type Command,
  counterGap,
  encodeCommand,
  LineSplitter,
  parseLine,
  sampleHex,
} from '../line-protocol.js';
import {
  SerialSource,
  type SerialSourceOptions,
  type SessionControl,
  type SessionHooks,
  type SourceDeps,
} from './source.js';

export interface LineSourceOptions extends SerialSourceOptions {
  /** Default 9600. */
  baud?: number;
  /** Ask the node for this sample period on every connect ($FLC,RATE). */
  rateMs?: number;
  /** Ask the node to identify itself on every connect ($FLC,ID). */
  identify?: boolean;
  /**
   * The connect commands go out on the node's first well-formed frame, or after this long if
   * it stays silent. Default 2000. A node that resets when the port opens (DTR) would lose
   * commands sent while it boots; its first frame says it is listening.
   */
  commandDelayMs?: number;
}

export class LineSource extends SerialSource {
  readonly driver = 'line' as const;
  readonly #o: LineSourceOptions;
  readonly #connectCommands: string[] = [];
  /** Counter of the last accepted readings frame; unknown after a reconnect or the node's FLI. */
  #lastCounter: number | undefined;

  constructor(options: LineSourceOptions, deps: SourceDeps = {}) {
    super(options, 9600, deps);
    this.#o = options;
    // Encoded now, so a bad rate is refused at construction rather than on some later connect.
    if (options.identify) this.#connectCommands.push(encodeCommand({ kind: 'identify' }));
    if (options.rateMs !== undefined) {
      try {
        this.#connectCommands.push(encodeCommand({ kind: 'rate', ms: options.rateMs }));
      } catch (err) {
        throw fail(
          'CONFIG_INVALID',
          `source ${options.name}: rateMs ${options.rateMs} is not a sample period`,
          err,
        );
      }
    }
  }

  /** Resolves once written to the port; the node's answer arrives as an 'answer' event. */
  async send(cmd: Command): Promise<void> {
    const line = encodeCommand(cmd);
    const port = this.conn.openPort;
    if (port === undefined) throw fail('SOURCE_DISCONNECTED', `source ${this.name} is not connected`);
    await new Promise<void>((resolve, reject) => {
      port.write(line, (err) => {
        if (err) reject(fail('SOURCE_DISCONNECTED', `source ${this.name}: ${err.message}`, err));
        else resolve();
      });
    });
  }

  protected session(control: SessionControl): SessionHooks {
    const clock = this.clock;
    const splitter = new LineSplitter();
    let commandsDue = this.#connectCommands.length > 0;
    let commandTimer: unknown;
    const sendConnectCommands = (): void => {
      if (!commandsDue || !control.active) return;
      commandsDue = false;
      clock.clearTimeout(commandTimer);
      // Errors surface as the port's close, which the connection reports.
      for (const line of this.#connectCommands) control.port.write(line, () => {});
    };
    control.port.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        if (this.#frame(line)) sendConnectCommands();
      }
    });
    return {
      opened: () => {
        // A reconnect may be to a restarted node: the old counter says nothing about the new one.
        this.#lastCounter = undefined;
        control.connected();
        if (commandsDue) commandTimer = clock.setTimeout(sendConnectCommands, this.#o.commandDelayMs ?? 2000);
      },
      ended: (stopping) => {
        commandsDue = false;
        clock.clearTimeout(commandTimer);
        const tail = splitter.end();
        // The node (or its cable) cut that line off; at stop() it is we who cut it.
        if (tail !== undefined && !stopping)
          this.sink({ kind: 'rejected', reason: 'truncated', sample: sampleHex(tail) });
      },
    };
  }

  /** Reports one line; true when it was a well-formed node frame. */
  #frame(line: Buffer): boolean {
    const frame = parseLine(line);
    switch (frame.kind) {
      case 'rejected':
        this.sink({ kind: 'rejected', reason: frame.reason, sample: frame.sample });
        return false;
      case 'readings': {
        const last = this.#lastCounter;
        if (last === frame.counter) {
          // A repeated frame, not 65 535 lost ones: recording it again would double its readings.
          this.sink({ kind: 'rejected', reason: 'duplicate', sample: sampleHex(line) });
          return true;
        }
        if (last !== undefined) {
          const count = counterGap(last, frame.counter);
          if (count > 0) this.sink({ kind: 'lost', count, after: last, next: frame.counter });
        }
        this.#lastCounter = frame.counter;
        this.sink({ kind: 'readings', readings: frame.readings, counter: frame.counter });
        return true;
      }
      case 'identity':
        // Sent at the node's start: its counter starts over from wherever it likes.
        this.#lastCounter = undefined;
        this.sink({
          kind: 'identity',
          nodeId: frame.nodeId,
          firmware: frame.firmware,
          version: frame.version,
        });
        return true;
      case 'fault':
        this.sink({ kind: 'fault', code: frame.code, text: frame.text });
        return true;
      case 'answer': {
        const ev: { kind: 'answer'; command: string; ok: boolean; why?: string } = {
          kind: 'answer',
          command: frame.command,
          ok: frame.ok,
        };
        if (frame.why !== undefined) ev.why = frame.why;
        this.sink(ev);
        return true;
      }
    }
  }
}
