// The console of a real `fieldlog device` in tmux shows the log's disk use against its budget
// and the free space: here a budget the log is already past, with the `stop` policy, so the
// header says in red that readings are not recorded. Quit with q: the readings it counted are
// recorded (ReadingsNotRecorded) before DeviceStopped, and the log verifies.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { CLI } from '../support/cli.js';
import { type Proc, startCli } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-tmux-disk-'));
const session = `fieldlog-disk-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const running: Proc[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(() => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already gone
  }
  rmSync(root, { recursive: true, force: true });
});

const pane = (colours = false) => tmux('capture-pane', '-t', session, '-p', '-J', ...(colours ? ['-e'] : []));

describe('console under tmux, disk budget', () => {
  it('shows disk use against the budget and free space, in red when past it', async () => {
    const sim = startCli(['sim', 'line', '--pty', '--rate', '5']);
    running.push(sim);
    const port = await sim.waitFor(/^\//);
    const config = join(root, 'pi-d.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-d',
        sources: [{ name: 'node', driver: 'line', port }],
        retention: { maxBytes: '100B', policy: 'stop' },
      }),
    );
    const data = join(root, 'data');
    const exitFile = join(root, 'exit');
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '120',
      '-y',
      '30',
      `node ${CLI} device --config ${config} --data ${data}; echo $? > ${exitFile}; sleep 60`,
    );
    await expect.poll(() => pane(), { timeout: 30_000, interval: 250 }).toMatch(/pi-d\s+LIVE/);
    await expect
      .poll(() => pane(), { timeout: 30_000, interval: 250 })
      .toMatch(/log #\d+ [\d.]+ kB \/ 100 B · [\d.]+ [kMGT]?B free · READINGS NOT RECORDED \([1-9]\d*\)/);
    // in red (SGR 31), as an alarm is
    const red = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*31[0-9;]*m[^\\n]*READINGS NOT RECORDED`);
    expect(pane(true)).toMatch(red);
    tmux('send-keys', '-t', session, 'q');
    await expect.poll(() => existsSync(exitFile), { timeout: 20_000, interval: 200 }).toBe(true);
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0');
    const log = await EventLog.open(data);
    try {
      expect((await log.verify()).ok).toBe(true);
      const types: string[] = [];
      for await (const e of log.events()) types.push(e.type);
      expect(types.slice(-2)).toEqual(['ReadingsNotRecorded', 'DeviceStopped']);
      expect(types).not.toContain('ReadingRecorded');
    } finally {
      await log.close();
    }
  });
});
