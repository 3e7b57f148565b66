// A full filesystem under a real `fieldlog device` process: its data folder on a tiny tmpfs,
// or a loop-mounted ext4 as on a Raspberry Pi's card (mounted here, as root), the line
// simulator on a pty. A filler file takes the last byte;
// the device keeps running and counts the readings it cannot write (/metrics), the filler is
// deleted, the device records ReadingsNotRecorded with the count and goes on recording, stops
// cleanly, and its log verifies with everything written before the fill still there. A hub
// (on the ordinary filesystem) takes what the device wrote throughout.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';
import { metricValue } from '../support/metrics-text.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-full-'));
const running: Proc[] = [];
const mounts: string[] = [];

/** Why this machine cannot run the test, or null. CI runs as root: there it must run. */
const cannot = process.getuid?.() === 0 ? null : 'mounting a tiny filesystem needs root';
if (cannot !== null && !process.env.CI)
  console.warn(`device-full-disk.sys.test.ts skipped: ${cannot} (it runs in CI, as root)`);

beforeAll(() => {
  if (cannot !== null) throw new Error(`${cannot}, and CI is set: run the system tests as root`);
});
afterEach(async () => {
  if (process.env.DEBUG_FULL)
    for (const p of running) console.log(p.lines.filter((l) => !/ = /.test(l)).join('\n'), p.stderr);
  await killAll(running);
});
afterAll(() => {
  for (const m of mounts.splice(0)) execFileSync('umount', [m]);
  rmSync(root, { recursive: true, force: true });
});

/**
 * A small filesystem at a new folder: a 4 MiB tmpfs, or an 8 MiB ext4 image on a loop device
 * (no blocks reserved for root: the device runs as root here, and the filler too).
 */
function mountTiny(kind: 'tmpfs' | 'ext4'): string {
  const at = join(root, `tiny-${mounts.length}-${kind}`);
  mkdirSync(at);
  const run = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'pipe' });
    } catch (err) {
      throw new Error(
        `cannot mount a small ${kind} (${cmd} ${args.join(' ')}): ${(err as { stderr?: Buffer }).stderr ?? err}`,
      );
    }
  };
  if (kind === 'tmpfs') run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', at]);
  else {
    const image = join(root, 'ext4.img');
    run('truncate', ['-s', '8M', image]);
    run('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    run('mount', ['-o', 'loop', image, at]);
  }
  mounts.push(at);
  return at;
}

const start = startInto(running);

const value = (text: string, series: string): number => metricValue(text, series) ?? Number.NaN;

/** Write zeros to `path` until the filesystem refuses (ENOSPC): it is full. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        // the last partial chunk, a page at a time
        if (chunk.length > 4096) return written + fillPages(fd);
        return written;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function fillPages(fd: number): number {
  const page = Buffer.alloc(4096);
  let written = 0;
  for (;;) {
    try {
      written += writeSync(fd, page);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return written;
      throw err;
    }
  }
}

describe.skipIf(cannot !== null && !process.env.CI)('fieldlog device on a filesystem that fills', () => {
  it.each([
    ['tmpfs', 'every-commit'],
    ['tmpfs', 'interval'],
    ['ext4', 'every-commit'],
  ] as const)(
    'keeps running, counts what it cannot write, records it when space returns, and its log verifies (%s, durability %s)',
    async (fs, durability) => {
      const mnt = mountTiny(fs === 'ext4' ? 'ext4' : 'tmpfs');
      // the hub on the ordinary filesystem: replication of what is written goes on throughout
      const hub = start([
        'hub',
        '--data',
        join(root, `hub-${fs}-${durability}`),
        '--broker-port',
        '0',
        '--broker-host',
        '127.0.0.1',
      ]);
      const broker = /mqtt:\/\/[^\s,]+/.exec(await hub.waitFor(/broker mqtt:\/\//))![0];
      const sim = start(['sim', 'line', '--pty', '--rate', '20']);
      const port = await sim.waitFor(/^\//);
      const data = join(mnt, `pi-${durability}`);
      const config = join(root, `pi-${fs}-${durability}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          id: `pi-${durability}`,
          durability,
          mqtt: { url: broker },
          sources: [{ name: 'line', driver: 'line', port }],
        }),
      );
      const device = start(['device', '--config', config, '--data', data, '--metrics', '0', '--no-ui']);
      const url = /http:\/\/\S+\/metrics/.exec(await device.waitFor(/metrics http:\/\//))![0];
      const scrape = async () => (await fetch(url)).text();
      const readings = 'fieldlog_device_readings_total{source="line"}';
      const notRecorded = 'fieldlog_device_readings_not_recorded_total{reason="disk-full"}';
      await expect.poll(async () => value(await scrape(), readings), { timeout: 30_000 }).toBeGreaterThan(20);
      expect(value(await scrape(), notRecorded)).toBe(0);
      const acked = async () => value(await scrape(), 'fieldlog_device_replication_acked_seq');
      // in the low-wear mode only what was fsynced is sent: let one fsync and its ack happen first
      if (durability === 'interval') await expect.poll(acked, { timeout: 30_000 }).toBeGreaterThan(0);

      // the filesystem fills: the device says so, keeps running and counts
      const filler = join(mnt, 'filler');
      fill(filler);
      await device.waitFor(/warning: the log's filesystem is full/, 30_000);
      const headAtFull = value(await scrape(), 'fieldlog_device_log_head_seq');
      // long enough for probes to find no room (about 60 readings a second)
      await expect
        .poll(async () => value(await scrape(), notRecorded), { timeout: 30_000 })
        .toBeGreaterThan(150);
      // what was written before is replicated meanwhile; in the low-wear mode what was fsynced
      // (the events of the last second before the fill wait for the reopen, which syncs them)
      if (durability === 'every-commit') await expect.poll(acked, { timeout: 30_000 }).toBe(headAtFull);
      else await expect.poll(acked, { timeout: 30_000 }).toBeGreaterThan(0);
      expect(device.child.exitCode).toBe(null);
      expect(device.stderr).toMatch(/warning: readings are NOT being recorded: the log's filesystem is full/);
      expect(device.stderr).not.toMatch(/internal error/);
      // nothing was written meanwhile
      expect(value(await scrape(), 'fieldlog_device_log_head_seq')).toBe(headAtFull);

      // space returns: the count is recorded, and recording goes on
      unlinkSync(filler);
      const line = await device.waitFor(/reading\(s\) NOT recorded \(disk-full\)/, 60_000);
      const recordedCount = Number(/ (\d+) reading\(s\) NOT recorded/.exec(line)![1]);
      const countedAtResume = value(await scrape(), notRecorded);
      expect(recordedCount).toBeGreaterThan(150);
      expect(recordedCount).toBeLessThanOrEqual(countedAtResume);
      const recordedAtResume = value(await scrape(), readings);
      await expect
        .poll(async () => value(await scrape(), readings), { timeout: 30_000 })
        .toBeGreaterThan(recordedAtResume + 10);

      // and what is written after, the ReadingsNotRecorded with it
      const recordedAt = Number(/ #(\d+) /.exec(line)![1]);
      await expect.poll(acked, { timeout: 30_000 }).toBeGreaterThanOrEqual(recordedAt);
      const countedAtStop = value(await scrape(), notRecorded);
      await expect(device.stop('SIGTERM')).resolves.toBe(0);
      expect(device.stderr).not.toMatch(/internal error/);
      const v = await runCli(['log', 'verify', data, '--json']);
      expect(v.code).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({ ok: true });

      const log = await EventLog.open(data);
      try {
        expect(log.head().seq).toBeGreaterThan(headAtFull);
        const types: string[] = [];
        let counted = 0;
        for await (const e of log.events()) {
          types.push(e.type);
          if (e.type === 'ReadingsNotRecorded') {
            const d = e.data as { count: number; reason: string; sensors: Record<string, number> };
            expect(d.reason).toBe('disk-full');
            expect(Object.values(d.sensors).reduce((a, b) => a + b, 0)).toBe(d.count);
            counted += d.count;
            // recorded right after what was written before the fill (and the events held meanwhile)
            expect(e.seq).toBeGreaterThan(headAtFull);
          }
        }
        // every reading counted was recorded as not recorded: the metric and the log agree
        expect(counted).toBe(countedAtStop);
        // a whole chain from seq 1: what was written before the fill is all there
        expect(types).toHaveLength(log.head().seq);
        expect(types.slice(0, headAtFull).filter((t) => t === 'ReadingRecorded').length).toBeGreaterThan(20);
        expect(types.at(-1)).toBe('DeviceStopped');
      } finally {
        await log.close();
      }
    },
  );
});
