// The disk budget on a real `fieldlog device` process: a log already past a small
// `retention.maxBytes` (readings imported with `fieldlog log append`, their payloads large),
// the device reading the line simulator on a pty and no hub. It thins (ReadingsPurged on
// stdout, the state on stderr), keeps recording, stops cleanly, and `log verify` passes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sizeOnDisk } from '../../src/log/size-on-disk.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-budget-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
afterEach(async () => {
  await killAll(running);
});

const start = startInto(running);

describe('fieldlog device with retention.maxBytes', () => {
  it('thins the oldest readings past the budget, says so, keeps recording, and the log verifies', async () => {
    const data = join(root, 'pi-b');
    // 3000 readings with their raw frames (incompressible), as an import from another logger
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({
        type: 'ReadingRecorded',
        data: {
          source: 'node',
          sensor: 'temp',
          value: i / 10,
          unit: 'C',
          frame: randomBytes(120).toString('hex'),
        },
        meta: { actor: 'sensor:node' },
      }),
    );
    const imported = await runCli(['log', 'append', data, '--device', 'pi-b'], {
      input: `${lines.join('\n')}\n`,
    });
    expect(imported.code).toBe(0);
    const size = await sizeOnDisk(data);
    const maxBytes = Math.round(size * 0.6);

    const sim = start(['sim', 'line', '--pty', '--rate', '10']);
    const port = await sim.waitFor(/^\//);
    const config = join(root, 'pi-b.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-b',
        sources: [{ name: 'node', driver: 'line', port }],
        retention: { maxBytes, policy: 'thin' },
      }),
    );
    const device = start(['device', '--config', config, '--data', data, '--no-ui']);
    // the purge is an event like any other: on stdout, with what was given up and why
    const purged = await device.waitFor(
      /#\d+ \d+ reading payload\(s\) purged in seqs 1\.\.\d+ \(disk-budget\)/,
      60_000,
    );
    expect(purged).toBeTruthy();
    // and the change of state is one line on stderr
    await expect.poll(() => device.stderr, { timeout: 30_000 }).toMatch(/disk budget: thinning/);
    expect(device.stderr).toMatch(/disk budget: .*over the budget/);
    // still recording the simulator's readings afterwards
    await device.waitFor(/reading\(s\) recorded, head #/, 30_000);
    await expect(device.stop('SIGTERM')).resolves.toBe(0);
    expect(await sizeOnDisk(data)).toBeLessThanOrEqual(maxBytes * 1.2);

    const v = await runCli(['log', 'verify', data, '--json']);
    expect(v.stderr).toBe('');
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, errors: [] });
    expect(v.code).toBe(0);

    const cat = await runCli(['log', 'cat', data]);
    const events = cat.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string; data: Record<string, unknown> | null });
    const records = events.filter((e) => e.type === 'ReadingsPurged');
    expect(records.length).toBeGreaterThan(0);
    const count = records.reduce((k, e) => k + (e.data!.count as number), 0);
    const nulls = events.filter((e) => e.type === 'ReadingRecorded' && e.data === null);
    expect(nulls).toHaveLength(count);
    // oldest first: the imported readings, not the ones the device recorded
    expect(nulls.every((e) => e.seq <= 3000)).toBe(true);
    expect(
      events.filter((e) => e.seq > 3000 && e.type === 'ReadingRecorded' && e.data !== null).length,
    ).toBeGreaterThan(0);
  });
});
