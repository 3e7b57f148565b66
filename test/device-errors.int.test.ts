// The device's and the demo's error paths, in process with a real LevelDB log whose disk
// writes start to fail: one line on stderr, no unhandled rejection, a clear stop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LineNode } from '../firmware-sim/line-node.js';
import { SimulatorBinding } from '../firmware-sim/mock-port.js';
import { runDemo } from '../src/cli/demo-command.js';
import { runDevice } from '../src/cli/device-command.js';
import { memoryOutput } from '../src/cli/output.js';
import type { SerialBinding } from '../src/device/sources/source.js';
import { LogDisk } from '../src/log/disk.js';
import { EventLog } from '../src/log/event-log.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-errors-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Make every disk write of the logs in folders ending in `suffix` fail from now on (EIO). */
function failWrites(suffix: string): () => void {
  const proto = LogDisk.prototype;
  const write = proto.write;
  proto.write = function (this: LogDisk, ops) {
    if (this.location?.endsWith(suffix)) return Promise.reject(new Error('EIO: i/o error, write'));
    return write.call(this, ops);
  };
  return () => {
    proto.write = write;
  };
}

function stderrLines(): { lines: () => string[] } {
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return {
    lines: () =>
      spy.mock.calls
        .map((c) => String(c[0]))
        .join('')
        .split('\n')
        .filter(Boolean),
  };
}

afterEach(() => vi.restoreAllMocks());

async function until(ok: () => boolean): Promise<void> {
  await expect.poll(ok, { timeout: 30_000 }).toBe(true);
}

describe('a log that can no longer be written', () => {
  it('stops the demo with one line and no unhandled rejection', async () => {
    const data = join(root, 'demo');
    const out = memoryOutput();
    const stderr = stderrLines();
    const ctl = new AbortController();
    let restore = () => {};
    const run = runDemo(['--data', data, '--http', '0', '--no-ui'], out, ctl.signal);
    try {
      await until(() => out.lines.some((l) => l.includes('node connected')));
      restore = failWrites('device');
      const err = await run.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'LOG_WRITE_FAILED' });
      expect((err as Error).message).toMatch(/the demo device stopped: its log can no longer be written/);
    } finally {
      restore();
      ctl.abort();
      await run.catch(() => {});
    }
    const reported = stderr.lines().filter((l) => l.includes('internal error'));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(
      /internal error in recorder: writing to the log failed: EIO: i\/o error, write \[LOG_WRITE_FAILED\]$/,
    );
    // the hub and what the device wrote before stay whole
    const dev = await EventLog.open(join(data, 'device'));
    expect((await dev.verify()).ok).toBe(true);
    await dev.close();
  });

  it('stops `fieldlog device` the same way', async () => {
    const binding = new SimulatorBinding();
    const node = new LineNode({ nodeId: 'n1', periodMs: 20 });
    const line = binding.attach(node);
    const data = join(root, 'device');
    const out = memoryOutput();
    const stderr = stderrLines();
    const ctl = new AbortController();
    let restore = () => {};
    const run = runDevice(
      ['--id', 'pi-e', '--data', data, '--driver', 'line', '--port', line.path, '--no-ui'],
      out,
      {
        signal: ctl.signal,
        deps: { binding: binding as unknown as SerialBinding },
      },
    );
    node.start();
    try {
      await until(() => out.lines.some((l) => l.includes('line connected')));
      restore = failWrites('device');
      const err = await run.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'LOG_WRITE_FAILED' });
      expect((err as Error).message).toMatch(/device pi-e stopped: its log can no longer be written/);
    } finally {
      restore();
      node.stop();
      line.detach();
      ctl.abort();
      await run.catch(() => {});
    }
    const reported = stderr.lines().filter((l) => l.includes('internal error'));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(/internal error in recorder: writing to the log failed: EIO/);
  });
});
