// The demo with its console in a real terminal: tmux at 100×30, read the pane, click
// ACK with an SGR mouse sequence, quit with q; the logs verify afterwards and record the quit.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { CLI } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-tmux-'));
const session = `fieldlog-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
afterAll(() => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already gone
  }
  rmSync(root, { recursive: true, force: true });
});

const pane = () => tmux('capture-pane', '-t', session, '-p');

describe('console under tmux', () => {
  it('shows live values, acknowledges an alarm by mouse, and quits cleanly with q', async () => {
    const exitFile = join(root, 'exit');
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '100',
      '-y',
      '30',
      `cd ${root} && node ${CLI} demo --http 0; echo $? > ${exitFile}; sleep 60`,
    );
    await expect.poll(pane, { timeout: 30_000, interval: 250 }).toMatch(/demo-pi\s+LIVE/);
    await expect.poll(pane, { timeout: 30_000, interval: 250 }).toMatch(/temp\s+\d+\.\d+ C/);
    const first = /temp\s+(\d+\.\d+) C/.exec(pane())![1];
    await expect
      .poll(
        () =>
          /hum\s+(\d+\.\d+) %/.exec(pane())?.[1] !== undefined &&
          /temp\s+(\d+\.\d+) C/.exec(pane())![1] !== first,
        { timeout: 30_000, interval: 250 },
      )
      .toBe(true);
    // the demo's temperature alarm (above 20.5 °C) is active and selected
    await expect.poll(pane, { timeout: 30_000, interval: 250 }).toMatch(/> temp above 20.5/);
    const lines = pane().split('\n');
    const row = lines.findIndex((l) => /│ ACK │/.test(l));
    expect(row).toBeGreaterThan(0);
    const col = lines[row]!.indexOf('ACK') + 2;
    tmux('send-keys', '-t', session, '-l', `\x1b[<0;${col};${row + 1}M`);
    tmux('send-keys', '-t', session, '-l', `\x1b[<0;${col};${row + 1}m`);
    await expect.poll(pane, { timeout: 10_000, interval: 200 }).toMatch(/ack demo/);
    tmux('send-keys', '-t', session, 'q');
    await expect.poll(() => existsSync(exitFile), { timeout: 20_000, interval: 200 }).toBe(true);
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0');
    const log = await EventLog.open(join(root, 'data', 'device'));
    try {
      expect((await log.verify()).ok).toBe(true);
      const acks = [];
      const stops = [];
      for await (const e of log.events()) {
        if (e.type === 'AlarmAcknowledged') acks.push(e);
        if (e.type === 'DeviceStopped') stops.push(e);
      }
      expect(acks).toEqual([
        expect.objectContaining({ data: { alarm: 'temp-above' }, meta: { actor: 'operator:demo' } }),
      ]);
      // q is the operator's quit, recorded as such (not a signal, not a bare "stopped")
      expect(stops).toEqual([
        expect.objectContaining({ data: { reason: 'operator-quit' }, meta: { actor: 'operator:demo' } }),
      ]);
    } finally {
      await log.close();
    }
  });
});
