// The log's one read, `read({ device | fleet, fromSeq, toSeq, since, until, limit })`: seq and
// time bounds together, exact at the time window's ends, a limit, and the fleet by position.
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog, type LogQuery } from '../../src/log/event-log.js';
import { fakeClock, reading } from './helpers.js';

const T0 = Date.parse('2026-11-24T10:00:00.000Z');
const at = (i: number) => new Date(T0 + i * 10).toISOString(); // fakeClock: event i+1 at T0 + 10·i

async function collect(log: EventLog, q: LogQuery): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of log.read(q))
    for (const { event, position } of chunk)
      out.push(position === undefined ? String(event.seq) : `${position}:${event.device}:${event.seq}`);
  return out;
}

async function sealed(device: string, n: number): Promise<Envelope[]> {
  const dev = await EventLog.memory({ device, clock: fakeClock() });
  const out: Envelope[] = [];
  for (let i = 0; i < n; i++) out.push(await dev.append(reading('t', i)));
  await dev.close();
  return out;
}

describe('read', () => {
  it("reads a device's events by seq, by time (exact at both ends) and by both, up to a limit", async () => {
    const log = await EventLog.memory({ device: 'pi', clock: fakeClock() });
    try {
      for (let i = 0; i < 50; i++) await log.append(reading('t', i));
      const seqs = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));
      await expect(collect(log, {})).resolves.toEqual(seqs(1, 50));
      await expect(collect(log, { fromSeq: 10, toSeq: 12 })).resolves.toEqual(seqs(10, 12));
      await expect(collect(log, { since: at(19), until: at(29) })).resolves.toEqual(seqs(20, 30));
      // one ms inside the window's ends leaves the events on them out
      await expect(collect(log, { since: T0 + 191, until: T0 + 289 })).resolves.toEqual(seqs(21, 29));
      await expect(collect(log, { since: at(19), toSeq: 25 })).resolves.toEqual(seqs(20, 25));
      await expect(collect(log, { since: at(19), limit: 3 })).resolves.toEqual(seqs(20, 22));
      await expect(collect(log, { limit: 0 })).resolves.toEqual([]);
      await expect(collect(log, { since: at(30), until: at(20) })).resolves.toEqual([]);
      await expect(collect(log, { since: at(60) })).resolves.toEqual([]);
      await expect(collect(log, { limit: -1 })).rejects.toMatchObject({ code: 'EVENT_INVALID' });
      await expect(collect(log, { since: 'yesterday' })).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    } finally {
      await log.close();
    }
  });

  it('reads the fleet by position, within a time window and up to a limit', async () => {
    const hub = await EventLog.memory({ fleet: true });
    try {
      const [a, b] = [await sealed('a', 4), await sealed('b', 4)];
      await hub.appendSealed(a.slice(0, 2));
      await hub.appendSealed(b);
      await hub.appendSealed(a.slice(2));
      await expect(collect(hub, { fleet: true })).resolves.toEqual([
        '1:a:1',
        '2:a:2',
        '3:b:1',
        '4:b:2',
        '5:b:3',
        '6:b:4',
        '7:a:3',
        '8:a:4',
      ]);
      await expect(collect(hub, { fleet: true, from: 2, to: 4 })).resolves.toEqual([
        '2:a:2',
        '3:b:1',
        '4:b:2',
      ]);
      // seqs 2 and 3 of both devices were recorded at T0+10 and T0+20
      await expect(collect(hub, { fleet: true, since: at(1), until: at(2) })).resolves.toEqual([
        '2:a:2',
        '4:b:2',
        '5:b:3',
        '7:a:3',
      ]);
      await expect(collect(hub, { fleet: true, from: 3, limit: 2 })).resolves.toEqual(['3:b:1', '4:b:2']);
      await expect(collect(hub, { device: 'b', since: at(3) })).resolves.toEqual(['4']);
    } finally {
      await hub.close();
    }
  });
});
