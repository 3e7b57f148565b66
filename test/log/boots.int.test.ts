// `log stats` and `log state` count boots the same way: one per DeviceStarted, redacted
// or not; other processes that write to the log (log append, log redact) are not boots.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-boots-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const started = JSON.stringify({
  type: 'DeviceStarted',
  data: { version: '0.1.0', sources: [], clockSynced: true },
});
const reading = (value: number) =>
  JSON.stringify({ type: 'ReadingRecorded', data: { source: 'node', sensor: 't', value } });

async function ok(args: string[], input?: string): Promise<string> {
  const r = await runCli(args, input === undefined ? {} : { input });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('boots', () => {
  it('are the same number in log stats and log state', async () => {
    const dir = join(root, 'log');
    // two device starts, each a process of its own (a boot id each)
    await ok(['log', 'append', dir, '--device', 'pi-01'], `${started}\n${reading(1)}\n${reading(2)}\n`);
    await ok(['log', 'append', dir], `${started}\n${reading(3)}\n`);
    // an operator's processes write too, under boot ids of their own, without a DeviceStarted
    await ok(['log', 'redact', dir, '--seq', '1', '--reason', 'test', '--actor', 'operator:ana']);
    await ok(['log', 'append', dir], `${JSON.stringify({ type: 'NoteAdded', data: { text: 'checked' } })}\n`);

    const stats = JSON.parse(await ok(['log', 'stats', dir, '--json']));
    const state = JSON.parse(await ok(['log', 'state', dir])).state;
    expect(stats.boots).toBe(2);
    expect(state.boots).toBe(2);
    // and the text form says the same
    expect(await ok(['log', 'stats', dir])).toMatch(/ boots 2 /);
  });
});
