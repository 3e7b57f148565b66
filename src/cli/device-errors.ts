// The device's error paths, the same in `fieldlog device` and in the demo. Every error is
// reported once (one line, counted for /metrics). A replicator that cannot read the log
// reports and retries; nothing is lost, the log is its outbox. A recorder whose log
// refuses a write stops the device: the batch was not kept, and a store that failed one
// write (a full or failing disk) rarely takes the next, so going on would lose readings
// while looking alive; stopping says so and leaves a log that verifies.
import type { Recorder } from '../device/recorder.js';
import { fail, isFieldlogError } from '../errors.js';
import { type InternalErrors, internalErrors } from '../internal-errors.js';
import type { Replicator } from '../sync/replicator.js';

/** Internal errors on stderr, held while the console owns the terminal and printed after it. */
export function deviceErrors(): InternalErrors & { hold(): void; release(): void; warn(line: string): void } {
  let held: string[] | null = null;
  const write = (line: string) => {
    if (held === null) process.stderr.write(`${line}\n`);
    else if (held.length < 100) held.push(line);
  };
  const errors = internalErrors({ write });
  return {
    report: errors.report,
    /** A warning line (not an error: not counted), held like the errors. */
    warn: write,
    counts: errors.counts,
    hold: () => {
      held ??= [];
    },
    release: () => {
      const lines = held ?? [];
      held = null;
      for (const line of lines) process.stderr.write(`${line}\n`);
    },
  };
}

/** Report the parts' errors; `stop` is called once, with the recorder's first write failure. */
export function watchDeviceErrors(
  parts: { recorder: Recorder; replicator: Replicator | null },
  errors: InternalErrors,
  stop: (err: unknown) => void,
): void {
  let stopping = false;
  parts.recorder.on('error', (err: unknown) => {
    errors.report('recorder', err);
    if (stopping) return;
    stopping = true;
    stop(err);
  });
  parts.replicator?.on('internal-error', (err: unknown) => errors.report('replicator', err));
}

/** The error a device (or the demo) ends with once its recorder could no longer write. */
export function stoppedBy(err: unknown, what: string): Error {
  return fail(
    isFieldlogError(err, 'LOG_CLOSED') ? 'LOG_CLOSED' : 'LOG_WRITE_FAILED',
    `${what} stopped: its log can no longer be written (the error is above); everything recorded before it is kept`,
    err,
  );
}
