// Child process for the redaction repair test: replays the hub's old, two-step redaction
// and dies between the steps. Step 1 writes the EventRedacted alone (the store's purge in
// the same batch is switched off, as it did not exist); step 2, the separate purge, never
// comes: the process SIGKILLs itself first, leaving the store as a crash did.
import { readFileSync } from 'node:fs';
import { EventLog } from '../../dist/src/log/event-log.js';

const [dir, file] = process.argv.slice(2);
const { before, redaction } = JSON.parse(readFileSync(file, 'utf8'));
const log = await EventLog.open(dir, { create: true, fleet: true });
await log.appendSealed(before);
// the old step 1: the EventRedacted's batch carried no purge (the redaction part's purge hook, see redactor.ts)
log.redactor.prepare = async () => {};
await log.appendSealed([redaction]);
process.stdout.write('step 1 written\n');
process.kill(process.pid, 'SIGKILL');
