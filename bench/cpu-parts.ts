// CPU per event of the catch-up's two sides without the broker: the device's batches (its
// log read as JSON, cut into messages as the replicator does) and the hub's ingest (message
// check, chain check, staging, LevelDB). `node dist/bench/cpu-parts.js DEVICE_DIR [N]`
// (a device log of readings, e.g. the one bench/sync-cpu.ts fills). Repeats each side and
// prints the best of its runs: noise on a shared machine only adds. CPU_PARTS=device runs
// the device's side alone; CPU_PARTS_BATCH_BYTES tries another message size than the
// replicator's (at most 1,000 events a message either way, as the hub accepts), and
// CPU_PARTS_SHORT=1 sends short envelopes (docs/protocol.md §10.7).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLevelFleetStore } from '../src/hub/leveldb-fleet-store.js';
import { EventLog } from '../src/log/event-log.js';
import { eventsBody, parseEvents, withPrev } from '../src/sync/messages.js';

/** The messages the device sends for its first `n` events (kept only when `keep`: as sent, they are freed once acknowledged). */
async function deviceBatches(log: EventLog, n: number, keep: boolean): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let parts: string[] = [];
  let bytes = 0;
  const send = () => {
    const body = eventsBody(log.device!, parts);
    if (keep) out.push(body);
    parts = [];
    bytes = 0;
  };
  for await (const chunk of log.eventsJson({ toSeq: n, short: SHORT })) {
    for (const e of chunk) {
      if (parts.length > 0 && (bytes + e.json.length > BATCH_BYTES || parts.length === 1000)) send();
      parts.push(parts.length === 0 && SHORT ? withPrev(e.json, e.prev) : e.json);
      bytes += e.json.length + 1;
    }
  }
  if (parts.length > 0) send();
  return out;
}

/** CPU_PARTS_SHORT=1: batches of short envelopes (docs/protocol.md §10.7), as to a hub that takes them. */
const SHORT = process.env.CPU_PARTS_SHORT === '1';

/** The replicator's default message size, or CPU_PARTS_BATCH_BYTES. */
const BATCH_BYTES = Number(process.env.CPU_PARTS_BATCH_BYTES ?? 120 * 1024);

function cpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function main(): Promise<void> {
  const dir = process.argv[2]!;
  const n = Number(process.argv[3] ?? 100_000);
  const runs = Number(process.argv[4] ?? 3);
  const log = await EventLog.open(dir, { sync: false });
  let msgs: Buffer[] = [];
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const c0 = cpu();
    await deviceBatches(log, n, false);
    best = Math.min(best, (cpu() - c0) / n);
  }
  msgs = process.env.CPU_PARTS === 'device' ? [] : await deviceBatches(log, n, true);
  await log.close();
  process.stdout.write(`device batches: ${best.toFixed(2)} µs/event (${msgs.length} messages)\n`);
  if (process.env.CPU_PARTS === 'device') return;
  best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const root = mkdtempSync(join(tmpdir(), 'fieldlog-cpu-parts-'));
    const store = await openLevelFleetStore(join(root, 'hub'), { create: true });
    const c0 = cpu();
    const writes: Promise<unknown>[] = [];
    for (const m of msgs) {
      const { events } = parseEvents(m, 'pi-bench');
      const a = await store.append('pi-bench', events);
      if (a.kind !== 'stored') throw new Error(`not stored: ${a.kind}`);
      writes.push(a.written);
      // as the hub: the next message is checked while this one is written
      await new Promise((res) => setImmediate(res));
    }
    await Promise.all(writes);
    best = Math.min(best, (cpu() - c0) / n);
    await store.close();
    rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(`hub ingest: ${best.toFixed(2)} µs/event\n`);
}

await main();
