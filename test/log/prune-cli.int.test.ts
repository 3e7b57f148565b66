// What the `fieldlog log` commands say of a pruned log (README "Retention"): verify reports
// where the chain starts and its anchor (text and --json), not a gap; stats counts the kept
// events; cat and state say once, on stderr, that what was asked for was pruned.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';
import { fakeClock, reading } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-prune-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const dir = join(root, 'log');
let anchor = '';

beforeAll(async () => {
  const log = await EventLog.open(dir, { create: true, device: 'pi-1', clock: fakeClock() });
  await log.appendMany(Array.from({ length: 100 }, (_, k) => reading('t', k)));
  anchor = (await log.prune(60)).anchor!.hash;
  await log.close();
});

describe('fieldlog log on a pruned log', () => {
  it('verify: starts at the anchor, not a gap', async () => {
    const v = await runCli(['log', 'verify', dir]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^pi-1: ok, 40 events, head 100 [0-9a-f]{64}\n/);
    expect(v.stdout).toContain(
      `  starts at seq 61, anchored by hash ${anchor} (seq 60, the last pruned event)\n`,
    );
    const j = await runCli(['log', 'verify', dir, '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({
      ok: true,
      events: 40,
      errors: [],
      anchor: { seq: 60, hash: anchor },
    });
  });

  it('stats: the kept events and the anchor', async () => {
    const s = await runCli(['log', 'stats', dir, '--json']);
    expect(JSON.parse(s.stdout)).toMatchObject({
      events: 40,
      anchor: { seq: 60, hash: anchor },
      head: { seq: 100 },
    });
    const t = await runCli(['log', 'stats', dir]);
    expect(t.stdout).toContain(`pruned   seqs 1..60   anchor ${anchor}\n`);
  });

  it('cat and state: what was pruned is said on stderr, the rest printed', async () => {
    const c = await runCli(['log', 'cat', dir, '--from-seq', '1', '--to-seq', '62']);
    expect(c.code).toBe(0);
    expect(
      c.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual([61, 62]);
    expect(c.stderr).toBe(
      `fieldlog: note: events 1..60 were pruned (anchor ${anchor}); printing from seq 61\n`,
    );
    expect((await runCli(['log', 'cat', dir, '--from-seq', '70'])).stderr).toBe('');
    const st = await runCli(['log', 'state', dir, '--at-seq', '10']);
    expect(JSON.parse(st.stdout)).toMatchObject({ asOfSeq: 60, state: { events: 60 } });
    expect(st.stderr).toContain('events 1..60 were pruned');
    const head = await runCli(['log', 'state', dir]);
    expect(JSON.parse(head.stdout)).toMatchObject({ asOfSeq: 100, state: { events: 100 } });
    expect(head.stderr).toBe('');
  });
});
