// The console's HISTORY on a pruned log (README "Retention"): as of a time after the anchor
// it shows what it showed before the prune (the fold starts from the state kept at the
// anchor); as of a time before it, the oldest state there is, the anchor's. Real LevelDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { HistoryLoader } from '../../src/ui/history.js';
import { fakeClock, reading } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-history-anchor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('shows the kept range as before the prune, and the anchor before it', async () => {
  const log = await EventLog.open(join(root, 'log'), { create: true, device: 'pi-1', clock: fakeClock() });
  await log.appendMany(Array.from({ length: 300 }, (_, k) => reading(k % 2 ? 't' : 'h', k)));
  await log.append({ type: 'NoteAdded', data: { text: 'mast checked' }, meta: { actor: 'operator:ana' } });
  await log.appendMany(Array.from({ length: 300 }, (_, k) => reading('t', 1000 + k)));
  const at = Date.parse((await log.get(450))!.time);
  const early = Date.parse((await log.get(50))!.time);
  const before = await new HistoryLoader(log).load(at);
  await log.prune(400);
  const after = await new HistoryLoader(log).load(at);
  expect(after!.seq).toBe(450);
  expect(after!.state).toEqual(before!.state);
  expect(after!.state.notes.map((n) => n.text)).toEqual(['mast checked']);
  const old = await new HistoryLoader(log).load(early);
  expect(old!.seq).toBe(400);
  expect(old!.state.events).toBe(400);
  await log.close();
});
