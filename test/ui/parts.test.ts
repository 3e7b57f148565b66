// The console's pure parts: trends and sparklines, the event tail, the layout, formatting,
// and history loads that a newer one overtakes.
import { describe, expect, it } from 'vitest';
import { emptyDeviceState } from '../../src/log/device-state.js';
import { EventLog } from '../../src/log/event-log.js';
import { HistoryLoader } from '../../src/ui/history.js';
import { computeLayout, type Rect } from '../../src/ui/layout.js';
import { sparkline, TrendBuffer, Trends } from '../../src/ui/sparkline.js';
import { EventTail, tailText } from '../../src/ui/tail.js';
import {
  CORRECTED_MARK,
  type ConsoleView,
  clip,
  type DiskView,
  duration,
  esc,
  eventsContent,
  headerContent,
} from '../../src/ui/widgets.js';

describe('trends and sparklines', () => {
  it('keeps bucket means in a ring and forgets what fell out of the window', () => {
    const t = new TrendBuffer(1000, 4);
    t.push(0, 1);
    t.push(500, 3);
    t.push(2000, 10);
    expect(t.series(3999, 4)).toEqual([2, Number.NaN, 10, Number.NaN]);
    t.push(4100, 7); // wraps onto bucket 0's slot
    expect(t.series(4999, 4)).toEqual([Number.NaN, 10, Number.NaN, 7]);
    t.push(100, 99); // late, older than the slot's bucket: ignored
    expect(t.series(4999, 4)).toEqual([Number.NaN, 10, Number.NaN, 7]);
  });

  it('draws values between their own min and max, gaps as blanks', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([1, Number.NaN, 1])).toBe('▄ ▄');
    expect(sparkline([0, 7], 'ascii')).toBe('_#');
    const trends = new Trends(1000, 10);
    expect(trends.series('none', 0, 3)).toEqual([Number.NaN, Number.NaN, Number.NaN]);
    expect(trends.span(20)).toBe(10_000);
  });
});

describe('EventTail', () => {
  const ev = (seq: number, type: string, data: Record<string, unknown>, actor?: string) => ({
    seq,
    type,
    data,
    time: '2026-11-24T11:00:00.000Z',
    boot: 'b1',
    mono: seq * 10,
    ...(actor ? { meta: { actor } } : {}),
  });

  it('collapses runs of readings into one counting line and describes the rest', () => {
    const t = new EventTail(10);
    t.add(ev(1, 'DeviceStarted', { version: '1' }, 'system'));
    for (let i = 0; i < 5; i++)
      t.add(ev(2 + i, 'ReadingRecorded', { sensor: i % 2 ? 'hum' : 'temp', value: i }));
    t.add(ev(7, 'NoteAdded', { text: 'Sensor cleaned' }, 'operator:ana'));
    t.add(ev(8, 'ReadingRecorded', { sensor: 'temp', value: 1 }));
    const lines = t.last(10);
    expect(lines.map((l) => [l.seq, tailText(l), l.tone])).toEqual([
      [1, 'device started, version 1', 'plain'],
      [6, '5 readings (hum, temp)', 'readings'],
      [7, 'note by ana: Sensor cleaned', 'operator'],
      [8, '1 reading (temp)', 'readings'],
    ]);
  });

  it('corrects the lines of a boot before its ClockSynced, marks them and says what the mark means', () => {
    const t = new EventTail(10);
    // boot b0 (another process) never synchronised: its times stand
    t.add({ ...ev(1, 'NoteAdded', { text: 'old boot' }), boot: 'b0', mono: 5 });
    t.add({
      ...ev(2, 'DeviceStarted', { version: '1' }, 'system'),
      time: '2025-10-30T10:00:00.000Z',
      mono: 100,
    });
    t.add({
      ...ev(3, 'ReadingRecorded', { sensor: 'temp', value: 1 }),
      time: '2025-10-30T10:00:01.000Z',
      mono: 1100,
    });
    t.add({
      ...ev(4, 'ReadingRecorded', { sensor: 'temp', value: 2 }),
      time: '2025-10-30T10:00:02.000Z',
      mono: 2100,
    });
    // the hub's time arrives at mono 3100: the clock was 400 days and 5.5 s behind
    const offsetMs = 400 * 86_400_000 + 5500;
    t.add({
      ...ev(5, 'ClockSynced', { offsetMs, source: 'hub' }),
      time: '2025-10-30T10:00:03.000Z',
      mono: 3100,
    });
    t.add({ ...ev(6, 'NoteAdded', { text: 'after' }), time: '2026-12-04T10:00:09.500Z', mono: 4100 });
    const lines = t.last(10);
    expect(
      lines.map((l) => [l.seq, l.corrected === undefined ? null : new Date(l.corrected).toISOString()]),
    ).toEqual([
      [1, null],
      [2, '2026-12-04T10:00:05.500Z'],
      [4, '2026-12-04T10:00:07.500Z'], // the run of readings: its last reading's time
      [5, null],
      [6, null],
    ]);
    const shown = (rows: number) =>
      eventsContent({ tail: t, loading: false } as unknown as ConsoleView, 80, rows)
        .split('\n')
        .map((l) => l.replace(/ +(\{\/gray-fg\})?$/, '$1')); // lines are padded to the width
    const text = shown(10);
    expect(text).toEqual([
      ' 11:00:00Z #1 note: old boot',
      `${CORRECTED_MARK}10:00:05Z #2 device started, version 1`,
      `${CORRECTED_MARK}10:00:07Z #4 2 readings (temp)`,
      ' 10:00:03Z #5 clock synchronised by hub, correction +400 d 0 h 0 min 5.500 s',
      ' 10:00:09Z #6 note: after',
      `{gray-fg}${CORRECTED_MARK} corrected time: the clock was set right later{/gray-fg}`,
    ]);
    // short of rows, the legend takes the oldest line's place; with no mark left, no legend
    expect(shown(4)).toEqual([text[2], text[3], text[4], text[5]]);
    expect(shown(3)).toEqual([text[3]!.slice(1), text[4]!.slice(1)]);
  });

  it('stays bounded', () => {
    const t = new EventTail(10);
    for (let i = 1; i <= 100; i++) t.add(ev(i, 'NoteAdded', { text: `n${i}` }));
    expect(t.last(3).map((l) => l.seq)).toEqual([98, 99, 100]);
    expect(t.last(100).length).toBeLessThanOrEqual(15);
  });
});

describe('computeLayout', () => {
  const buttons = ['« 10m', '‹ 1m', '1m ›', '10m »', 'LIVE', 'ACK', 'NOTE', 'LIMITS', 'OPERATOR'];
  const inside = (r: Rect, w: number, h: number) =>
    r.top >= 0 && r.left >= 0 && r.left + r.width <= w && r.top + r.height <= h;

  it('fits 100×30 without overlaps, with finger-sized buttons', () => {
    const l = computeLayout({ width: 100, height: 30, sensors: 6, hasPosition: true, buttons });
    for (const r of [l.header, l.sensors, l.events, l.position!, l.alarms, l.status, ...l.buttons]) {
      expect(inside(r, 100, 30)).toBe(true);
    }
    expect(l.sensors.height).toBe(9);
    expect(l.events.top).toBe(l.sensors.top + l.sensors.height);
    expect(l.events.top + l.events.height).toBe(l.status.top);
    expect(l.alarms.top).toBe(l.position!.top + l.position!.height);
    expect(l.tallButtons).toBe(true);
    expect(l.buttons.every((b) => b.height === 3 && b.top === 27)).toBe(true);
  });

  it('fits every button at 80×24 (gaps go first), keeping them three rows tall', () => {
    const l = computeLayout({ width: 80, height: 24, sensors: 4, hasPosition: true, buttons, headerRows: 3 });
    for (const r of [l.header, l.sensors, l.events, l.position!, l.alarms, l.status, ...l.buttons]) {
      expect(inside(r, 80, 24)).toBe(true);
    }
    expect(l.buttons).toHaveLength(buttons.length);
    expect(l.buttons.every((b, i) => b.height === 3 && b.width >= buttons[i]!.length + 2)).toBe(true);
    expect(l.header.height).toBe(3);
    expect(l.sensors.top).toBe(3);
  });

  it('gives more room to the panels on a bigger screen, and the alarms the GPS room without one', () => {
    const small = computeLayout({ width: 100, height: 30, sensors: 30, hasPosition: false, buttons });
    const big = computeLayout({ width: 160, height: 48, sensors: 30, hasPosition: false, buttons });
    expect(big.sensors.width).toBeGreaterThan(small.sensors.width);
    expect(big.sensors.height).toBeGreaterThan(small.sensors.height);
    expect(small.events.height).toBeGreaterThanOrEqual(6);
    expect(small.position).toBeNull();
    expect(small.alarms.top).toBe(2);
  });
});

describe('formatting', () => {
  it('formats durations and clips text', () => {
    expect(duration(59_000)).toBe('0m 59s');
    expect(duration(2 * 3600_000 + 3 * 60_000)).toBe('2h 03m');
    expect(duration(3 * 86_400_000 + 4 * 3600_000)).toBe('3d 04h');
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('ab', 4, 'right')).toBe('  ab');
    expect(esc('a {red-fg}b{/}')).toBe('a {open}red-fg{close}b{open}/{close}');
  });
});

describe('headerContent', () => {
  const view = (sync: ConsoleView['sync']): ConsoleView => ({
    mode: 'live',
    deviceId: 'pi-01',
    operator: 'ana',
    now: Date.parse('2026-11-24T11:00:00Z'),
    asOf: null,
    loading: false,
    state: emptyDeviceState(),
    head: 3,
    sizeBytes: null,
    sync,
    trends: new Trends(),
    trendTime: 0,
    tail: new EventTail(),
    selectedAlarm: null,
    sparkStyle: 'blocks',
  });

  it('says "no hub" without replication, and offline only when a hub is configured but not connected', () => {
    expect(headerContent(view(null))).toContain('no hub');
    expect(headerContent(view(null))).not.toContain('offline');
    const down = headerContent(view({ connected: false, acked: 2, head: 3, backlog: 1 }));
    expect(down).toContain('sync offline · backlog 1 · acked #2');
    expect(headerContent(view({ connected: true, acked: 3, head: 3, backlog: 0 }))).toContain('connected');
  });

  it('shows disk use against the budget and the free space, yellow near a limit, red past it', () => {
    const disk = (d: Partial<DiskView>): string =>
      headerContent({
        ...view(null),
        disk: {
          logBytes: 500_000,
          budgetBytes: 2_000_000,
          freeBytes: 3e9,
          minFreeBytes: 0,
          state: 'within',
          ...d,
        },
      });
    expect(disk({})).toContain('log #3 500.0 kB / 2.0 MB · 3.00 GB free');
    expect(disk({})).not.toMatch(/-fg\}500/);
    expect(disk({ logBytes: 1_900_000 })).toContain('{yellow-fg}1.9 MB / 2.0 MB');
    expect(disk({ logBytes: 2_100_000 })).toContain('{red-fg}2.1 MB / 2.0 MB');
    expect(disk({ minFreeBytes: 200e6, freeBytes: 210e6 })).toContain('{yellow-fg}');
    expect(disk({ minFreeBytes: 200e6, freeBytes: 100e6 })).toContain('{red-fg}');
    expect(disk({ state: 'thinning' })).toMatch(/\{red-fg\}.*THINNING/);
    expect(disk({ state: 'stopped' })).toMatch(/\{red-fg\}.*READINGS NOT RECORDED/);
    // no budget: the size alone, and the free space
    expect(disk({ budgetBytes: 0 })).toContain('log #3 500.0 kB · 3.00 GB free');
  });

  it('says DISK FULL with the readings not recorded while the log cannot be written', () => {
    expect(headerContent(view(null))).not.toContain('DISK FULL');
    expect(headerContent({ ...view(null), diskFull: 42 })).toContain(
      'log #3 {red-fg}{bold}DISK FULL{/bold}, 42 reading(s) not recorded{/red-fg}',
    );
  });
});

describe('HistoryLoader', () => {
  it('builds the past state, and a newer load makes an older one resolve null', async () => {
    const log = await EventLog.memory({ device: 'pi-01', sync: false });
    try {
      const t0 = Date.now();
      const events = [];
      for (let i = 0; i < 3000; i++) {
        events.push({ type: 'ReadingRecorded', data: { source: 'n', sensor: 'temp', value: i } });
      }
      await log.appendMany(events);
      const loader = new HistoryLoader(log);
      const first = loader.load(t0 + 60_000);
      const second = loader.load(t0 + 60_000);
      expect(await first).toBeNull();
      const view = (await second)!;
      expect(view.seq).toBe(3000);
      expect(view.state.sensors.temp).toMatchObject({ value: 2999, min: 0, max: 2999, count: 3000 });
      expect(view.tail.last(5).map(tailText)).toEqual(['3000 readings (temp)']);
      const third = loader.load(t0);
      loader.cancel();
      expect(await third).toBeNull();
    } finally {
      await log.close();
    }
  });

  it('reaches back past a flood of readings for the events that are not readings', async () => {
    const log = await EventLog.memory({ device: 'pi-01', sync: false });
    try {
      await log.append({ type: 'NoteAdded', data: { text: 'early' }, meta: { actor: 'operator:ana' } });
      const readings = [];
      for (let i = 0; i < 12_000; i++) {
        readings.push({ type: 'ReadingRecorded', data: { source: 'n', sensor: 'temp', value: i } });
      }
      await log.appendMany(readings);
      const view = (await new HistoryLoader(log, { tailLines: 5 }).load(Date.now() + 1000))!;
      expect(view.tail.last(10).map(tailText)).toEqual(['note by ana: early', '12000 readings (temp)']);
      const capped = (await new HistoryLoader(log, { tailLines: 5, tailScan: 6000, trendEvents: 100 }).load(
        Date.now() + 1000,
      ))!;
      expect(capped.tail.last(10).map(tailText)).not.toContain('note by ana: early');
    } finally {
      await log.close();
    }
  });

  it('corrects the times of a past moment by a ClockSynced recorded after it', async () => {
    const wrong = Date.parse('2025-10-30T10:00:00.000Z');
    let wall = wrong;
    let mono = 100;
    const log = await EventLog.memory({
      device: 'pi-01',
      sync: false,
      clock: { now: () => wall, mono: () => mono },
    });
    try {
      await log.append({ type: 'NoteAdded', data: { text: 'before' } });
      wall += 60_000;
      mono += 60_000;
      await log.append({ type: 'NoteAdded', data: { text: 'still before' } });
      wall += 60_000;
      mono += 60_000;
      const offsetMs = Date.parse('2026-12-04T10:00:00.000Z') - wall;
      await log.append({ type: 'ClockSynced', data: { offsetMs, source: 'hub' } });
      // the moment shown is before the sync (by the recorded clock): the sync is not in the tail
      const view = (await new HistoryLoader(log).load(wrong + 90_000))!;
      expect(view.seq).toBe(2);
      expect(
        view.tail.last(10).map((l) => [tailText(l), l.time, new Date(l.corrected!).toISOString()]),
      ).toEqual([
        ['note: before', '2025-10-30T10:00:00.000Z', '2026-12-04T09:58:00.000Z'],
        ['note: still before', '2025-10-30T10:01:00.000Z', '2026-12-04T09:59:00.000Z'],
      ]);
    } finally {
      await log.close();
    }
  });
});
