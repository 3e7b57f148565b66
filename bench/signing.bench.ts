// Signing benchmarks (issue 12). Same-run baselines and ratios:
//   1. durable append with signing on ÷ off, at group commits of 1 and of 1,000 events
//      (one signature per group commit: its cost shows at 1, and should vanish at 1,000)
//   2. Ed25519 sign and verify of one hash, µs per operation, and what that makes on a Pi 4
//      (Cortex-A72 at 1.5 GHz: sign ≈ 135k cycles, verify ≈ 425k cycles)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256hex } from '../src/log/envelope.js';
import { EventLog } from '../src/log/event-log.js';
import { generateIdentity, signHash, verifySig } from '../src/log/signing.js';
import { benchClock, readingAt } from './log.bench.js';
import { type BenchResult, median } from './report.js';

const PI4_HZ = 1.5e9;
const PI4_SIGN_CYCLES = 135_000;
const PI4_VERIFY_CYCLES = 425_000;

/** Events per second of durable appends in group commits of `group`, signed or not. */
async function appendRate(n: number, group: number, signed: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldlog-bench-sign-'));
  const log = await EventLog.open(dir, { device: 'bench', create: true, clock: benchClock() });
  try {
    if (signed) await log.appendKeyEvent('DeviceKeyAdded', generateIdentity());
    else await log.append(readingAt(0));
    const t0 = performance.now();
    for (let i = 0; i < n; i += group) {
      const batch: Promise<unknown>[] = [];
      for (let k = i; k < Math.min(n, i + group); k++) batch.push(log.append(readingAt(k)));
      await Promise.all(batch);
    }
    return (n * 1000) / (performance.now() - t0);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Alternate off and on runs, so a drift of the shared machine hits both alike. */
async function ratioAt(n: number, group: number, rounds: number): Promise<{ on: number; off: number }> {
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < rounds; r++) {
    off.push(await appendRate(n, group, false));
    on.push(await appendRate(n, group, true));
  }
  return { on: median(on), off: median(off) };
}

function perOp(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn(i); // warm up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - t0) * 1000) / n;
}

export async function benchSigning({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const rounds = quick ? 3 : 5;
  for (const [group, n] of [
    [1, quick ? 300 : 1500],
    [1000, quick ? 20_000 : 100_000],
  ] as const) {
    const { on, off } = await ratioAt(n, group, rounds);
    const ratio = on / off;
    const r: BenchResult = {
      name: `sign.append.durable.g${group}`,
      value: on,
      unit: 'events/s',
      baseline: {
        name: `the same durable appends, signing off (group commits of ${group})`,
        value: off,
        unit: 'events/s',
      },
      ratio,
    };
    if (group === 1000) {
      r.target = '>= 0.9';
      r.pass = ratio >= 0.9;
    }
    results.push(r);
  }
  const id = generateIdentity();
  const hashes = Array.from({ length: 256 }, (_, i) => sha256hex(`h${i}`));
  const ops = quick ? 2000 : 10_000;
  const sigs = hashes.map((h) => signHash(id.privateKey, h));
  const signUs = perOp(ops, (i) => signHash(id.privateKey, hashes[i & 255]!));
  const verifyUs = perOp(ops, (i) => {
    if (!verifySig(id.publicKey, hashes[i & 255]!, sigs[i & 255]!))
      throw new Error('bad signature in the bench');
  });
  const piSignUs = (PI4_SIGN_CYCLES / PI4_HZ) * 1e6;
  const piVerifyUs = (PI4_VERIFY_CYCLES / PI4_HZ) * 1e6;
  results.push({
    name: 'sign.ed25519.sign',
    value: signUs,
    unit: 'µs/op',
    baseline: { name: 'Pi 4 estimate (135k cycles at 1.5 GHz)', value: piSignUs, unit: 'µs/op' },
    ratio: signUs / piSignUs,
  });
  results.push({
    name: 'sign.ed25519.verify',
    value: verifyUs,
    unit: 'µs/op',
    baseline: { name: 'Pi 4 estimate (425k cycles at 1.5 GHz)', value: piVerifyUs, unit: 'µs/op' },
    ratio: verifyUs / piVerifyUs,
  });
  return results;
}
