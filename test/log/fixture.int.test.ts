// The committed log of format version 1 must keep opening and verifying (as hypercore
// keeps its storage fixtures): if this fails, the on-disk format changed.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceState } from '../../src/log/device-state.js';
import { EventLog } from '../../src/log/event-log.js';
import { Projector } from '../../src/log/projection.js';

const fixture = fileURLToPath(new URL('../fixtures/log-v1/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fieldlog-fixture-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HEAD = { seq: 26, hash: '49e1d1f652cb3fe2b2cabe44ead09c409451471335599b9ecf32e9a0a7d4613d' };

describe('log format v1 fixture', () => {
  it('opens, verifies, and reads back as written', async () => {
    const dir = join(root, 'copy');
    cpSync(fixture, dir, { recursive: true }); // opening writes LevelDB's own files: never touch the original
    const log = await EventLog.open(dir);
    try {
      expect(log.device).toBe('fixture-pi');
      expect(log.head()).toEqual(HEAD);
      await expect(log.verify()).resolves.toEqual({ ok: true, events: 26, head: HEAD, errors: [] });
      const first = await log.get(1);
      expect(first).toMatchObject({
        type: 'DeviceStarted',
        time: '2026-11-24T08:00:01.000Z',
        boot: 'fixture-boot-1',
        mono: 1000.5,
      });
      expect((await log.get(25))?.data).toBeNull();
      expect((await log.get(26))?.data).toEqual({ seq: 25, reason: 'phone number' });
      const { state } = await new Projector(log, deviceState).stateAt();
      expect(state.alarms['temp-above']).toMatchObject({ acknowledgedBy: 'operator:ana' });
      expect(state.sensors.temp).toMatchObject({ value: 24.5, count: 10 });
      expect(state.notes).toEqual([]);
    } finally {
      await log.close();
    }
  });

  it('takes new events after the old ones, marks itself format 2, and answers time queries over both', async () => {
    const dir = join(root, 'grown');
    cpSync(fixture, dir, { recursive: true });
    const log = await EventLog.open(dir);
    const firstTime = (await log.get(1))!.time;
    const lastOld = (await log.get(26))!;
    const added = await log.appendMany([
      { type: 'NoteAdded', data: { text: 'after the upgrade' }, meta: { actor: 'operator:ana' } },
      { type: 'NoteAdded', data: { text: 'and another' }, meta: { actor: 'operator:ana' } },
    ]);
    await log.close();
    const again = await EventLog.open(dir);
    try {
      const marker = await again.db.get(new Uint8Array([0, ...Buffer.from('format')]));
      expect(JSON.parse(Buffer.from(marker!).toString())).toEqual({ format: 'fieldlog-log', version: 2 });
      await expect(again.verify()).resolves.toMatchObject({ ok: true, events: 28 });
      await expect(again.seqAtTime(lastOld.time)).resolves.toBe(26);
      await expect(again.seqAtTime(added[1]!.time)).resolves.toBe(28);
      const seqs = [];
      for await (const e of again.eventsByTime({ since: firstTime, until: added[1]!.time })) seqs.push(e.seq);
      expect(seqs).toEqual(Array.from({ length: 28 }, (_, i) => i + 1));
    } finally {
      await again.close();
    }
  });
});
