// The hub's signature checks on catch-up (issue 12): a LevelDB hub store takes a device's
// backlog of 1,000,000 events in replication batches of 1,000 (each ending on a signed event,
// as the replicator sends them, and one signature per 100-event group commit inside it), with
// the device enrolled (every signature verified, the key chain followed) ÷ the same backlog
// with the device not enrolled (no signature checked), same run, alternated. The batches go
// through the store's append and its durable write, as the hub's ingest sends them; MQTT is
// left out (bench/sync.bench.ts measures the wire), so the ratio is the checks' own cost.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLevelFleetStore } from '../src/hub/leveldb-fleet-store.js';
import { SignatureGate } from '../src/hub/signatures.js';
import type { Envelope } from '../src/log/envelope.js';
import { EventLog } from '../src/log/event-log.js';
import { generateIdentity, signHash } from '../src/log/signing.js';
import { benchClock, readingAt } from './log.bench.js';
import { type BenchResult, median, rate } from './report.js';

const DEVICE = 'bench-sig';
const BATCH = 1000;
const GROUP = 100;

/** The device's backlog as the replicator would send it: batches of BATCH, signed where the device signed. */
async function backlog(n: number): Promise<{ batches: Envelope[][]; publicKey: string }> {
  const id = generateIdentity();
  const log = await EventLog.memory({ device: DEVICE, clock: benchClock(), sync: false });
  await log.append({ type: 'DeviceKeyAdded', data: { alg: 'ed25519', publicKey: id.publicKey } });
  for (let i = 1; i < n; i += BATCH)
    await log.appendMany(Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => readingAt(i + k)));
  const batches: Envelope[][] = [];
  let batch: Envelope[] = [];
  for await (const e of log.events()) {
    const last = batch.length === BATCH - 1;
    batch.push(
      e.seq === 1 || e.seq % GROUP === 0 || last ? { ...e, sig: signHash(id.privateKey, e.hash) } : e,
    );
    if (last) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) {
    const e = batch.pop()!;
    batch.push({ ...e, sig: signHash(id.privateKey, e.hash) });
    batches.push(batch);
  }
  await log.close();
  return { batches, publicKey: id.publicKey };
}

/** ms for a fresh durable LevelDB hub store to take every batch (pipelined as the ingest does). */
async function catchUp(root: string, batches: Envelope[][], gate: SignatureGate): Promise<number> {
  const dir = mkdtempSync(join(root, 'hub-'));
  const store = await openLevelFleetStore(dir, { create: true });
  const t0 = performance.now();
  const writes: Promise<unknown>[] = [];
  for (const b of batches) {
    const r = await store.append(DEVICE, b, gate);
    if (r.kind !== 'stored') throw new Error(`bench: batch at ${b[0]!.seq} was ${r.kind}`);
    writes.push(r.written);
    if (writes.length >= 64) await writes.shift();
  }
  await Promise.all(writes);
  const ms = performance.now() - t0;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

export async function benchSignatures({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const n = quick ? 100_000 : 1_000_000;
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-sig-'));
  try {
    const { batches, publicKey } = await backlog(n);
    const checked = new SignatureGate({ keys: new Map([[DEVICE, publicKey]]), requireSignatures: true });
    const unchecked = new SignatureGate();
    const on: number[] = [];
    const off: number[] = [];
    for (let round = 0; round < (quick ? 1 : 2); round++) {
      off.push(await catchUp(root, batches, unchecked));
      on.push(await catchUp(root, batches, checked));
    }
    const withChecks = rate(n, median(on));
    const without = rate(n, median(off));
    const ratio = withChecks / without;
    return [
      {
        name: `LevelDB hub catch-up of ${n.toLocaleString('en-US')} events with signature checks`,
        value: withChecks,
        unit: 'events/s',
        baseline: { name: 'the same, device not enrolled (no checks)', value: without, unit: 'events/s' },
        ratio,
        target: '≥ 0.9',
        pass: ratio >= 0.9,
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
