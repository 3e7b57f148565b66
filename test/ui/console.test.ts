// The console on a fake 100×30 terminal over a real Recorder and an in-memory log.
import blessed from 'blessed';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { stopCause } from '../../src/cli/console-wiring.js';
import type { Envelope } from '../../src/log/envelope.js';
import { cellColours, find, type Rig, rig, screenText } from './harness.js';

const T0 = Date.parse('2026-11-24T11:00:00.000Z');

async function settle(r: Rig, ms = 200): Promise<void> {
  await r.log.flushed();
  await vi.advanceTimersByTimeAsync(ms);
}

async function events(r: Rig, type: string): Promise<Envelope[]> {
  await r.log.flushed();
  const out: Envelope[] = [];
  for await (const e of r.log.events()) if (e.type === type) out.push(e);
  return out;
}

function press(r: Rig, keys: string): void {
  r.input.write(keys);
}

function row(r: Rig, text: string): string {
  const at = find(r.ui, text);
  expect(at, `"${text}" on screen:\n${screenText(r.ui).join('\n')}`).not.toBeNull();
  return screenText(r.ui)[at!.row]!;
}

describe('OperatorConsole', () => {
  let r: Rig;
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    r = await rig();
    r.src.emit({ kind: 'connected', port: '/dev/fake' });
    r.src.reading('temp', 21.5, 'C');
    r.src.reading('hum', 40.25, '%');
    await settle(r);
  });
  afterEach(async () => {
    await r.close();
    vi.useRealTimers();
  });

  it('shows the header, the sensors with their values and the event tail', async () => {
    r.src.reading('temp', 23.75, 'C');
    await settle(r);
    const text = screenText(r.ui);
    expect(text).toHaveLength(30);
    expect(text.every((l) => l.length === 100)).toBe(true);
    expect(text[0]).toContain('pi-01  LIVE  2026-11-24 11:00:00Z');
    expect(text[0]).toContain('operator ana');
    // no replication configured: "no hub", not "offline"
    expect(text[1]).toContain('no hub');
    expect(text[1]).not.toContain('offline');
    expect(text[1]).toMatch(/log #5 /);
    expect(row(r, 'temp      ')).toMatch(/temp\s+23\.75 C\s+21\.50\s+23\.75/);
    expect(row(r, 'hum       ')).toMatch(/hum\s+40\.25 %/);
    expect(row(r, 'device started')).toContain('#1 device started, version 0.1.0');
    expect(find(r.ui, 'node connected on /dev/fake')).not.toBeNull();
    expect(find(r.ui, 'reading')).not.toBeNull();
    expect(find(r.ui, 'no active alarms')).not.toBeNull();
    // LIVE header is blue
    expect(cellColours(r.ui, 0, 2).bg).toBe('blue');
  });

  it('colours an alarmed row red, then yellow once acknowledged by key with the operator as actor', async () => {
    r.src.reading('temp', 31.2, 'C');
    await settle(r);
    const at = find(r.ui, 'temp      ')!;
    expect(cellColours(r.ui, at.row, at.col)).toMatchObject({ bg: 'red', fg: 'white' });
    const hum = find(r.ui, 'hum       ')!;
    expect(cellColours(r.ui, hum.row, hum.col).bg).toBe('default');
    // shown to the sensor's precision: temp has sent one decimal (21.5, 31.2)
    expect(row(r, 'temp above 30')).toContain('> temp above 30.0 (31.2)');
    expect(row(r, 'NOT ACKNOWLEDGED')).toContain('11:00:00Z NOT ACKNOWLEDGED');

    press(r, 'a');
    await settle(r);
    const acks = await events(r, 'AlarmAcknowledged');
    expect(acks).toHaveLength(1);
    expect(acks[0]).toMatchObject({ data: { alarm: 'temp-above' }, meta: { actor: 'operator:ana' } });
    expect(cellColours(r.ui, at.row, at.col)).toMatchObject({ bg: 'yellow', fg: 'black' });
    expect(row(r, 'ack ana')).toContain('11:00:00Z ack ana 11:00:00Z');

    // a second acknowledgement is refused by the recorder: shown, not thrown
    press(r, 'a');
    await settle(r);
    expect(row(r, 'refused:')).toContain('refused: alarm temp-above was already acknowledged');
    expect(await events(r, 'AlarmAcknowledged')).toHaveLength(1);
  });

  it('selects an alarm with a mouse click (SGR) and acknowledges that one', async () => {
    await r.rec.changeThreshold('hum', { above: 50, below: null }, 'ana');
    r.src.reading('temp', 31, 'C');
    r.src.reading('hum', 60, '%');
    await settle(r);
    expect(row(r, 'temp above 30')).toContain('> temp above 30.0 (31.0)');
    const hum = find(r.ui, 'hum above 50')!;
    // xterm SGR mouse: 1-based column and row; M press, m release. blessed parses one mouse
    // sequence per chunk of input, so they go as two writes, as a terminal sends them
    press(r, `\x1b[<0;${hum.col + 3};${hum.row + 1}M`);
    await settle(r, 10);
    press(r, `\x1b[<0;${hum.col + 3};${hum.row + 1}m`);
    await settle(r);
    expect(row(r, 'hum above 50')).toContain('> hum above 50.00 (60.00)');
    press(r, 'a');
    await settle(r);
    expect((await events(r, 'AlarmAcknowledged')).map((e) => e.data)).toEqual([{ alarm: 'hum-above' }]);
  });

  it('shows the state as of an earlier time in HISTORY, and goes back to LIVE', async () => {
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    r.src.reading('temp', 28, 'C');
    await settle(r);
    expect(row(r, 'temp      ')).toMatch(/temp\s+28\.0 C/);

    press(r, '\x1b[D'); // left: one minute back, before the 28
    await vi.waitFor(() => expect(find(r.ui, 'HISTORY')).not.toBeNull());
    await vi.waitFor(() => expect(row(r, 'temp      ')).toMatch(/temp\s+21\.5 C\s+21\.5\s+21\.5 /));
    expect(screenText(r.ui)[0]).toContain('HISTORY as of 2026-11-24 11:04:00Z (1m 00s ago)');
    expect(cellColours(r.ui, 0, 2).bg).toBe('yellow');
    expect(r.ui.asOf).toBe(T0 + 4 * 60_000);
    // logging goes on behind it
    r.src.reading('temp', 29, 'C');
    await settle(r);
    expect(row(r, 'temp      ')).toMatch(/temp\s+21\.5 C/);
    // acting on the past is refused with a word
    press(r, 'a');
    await settle(r);
    expect(find(r.ui, 'go LIVE (l) to act')).not.toBeNull();

    // PageUp: ten more minutes back would be before the first event: HISTORY stops there
    press(r, '\x1b[5~');
    await vi.waitFor(() => expect(find(r.ui, 'START OF THE LOG')).not.toBeNull());
    expect(screenText(r.ui)[0]).toContain('as of 2026-11-24 11:00:00Z');
    expect(r.ui.asOf).toBe(T0);
    expect(row(r, 'START OF THE LOG')).toContain('event #4 of #');
    expect(
      find(r.ui, 'start of the log: first event at 2026-11-24 11:00:00Z, nothing before it'),
    ).not.toBeNull();
    expect(row(r, 'temp      ')).toMatch(/temp\s+21\.5 C/);
    // further back stays at the first event, by key and by button
    press(r, '\x1b[D');
    await settle(r);
    r.ui.scrub(-60 * 60_000);
    await settle(r);
    expect(r.ui.asOf).toBe(T0);
    expect(find(r.ui, 'START OF THE LOG')).not.toBeNull();
    // and forward again from there
    press(r, '\x1b[C');
    await vi.waitFor(() => expect(screenText(r.ui)[0]).toContain('as of 2026-11-24 11:01:00Z'));
    expect(find(r.ui, 'START OF THE LOG')).toBeNull();

    press(r, 'l');
    await settle(r);
    expect(screenText(r.ui)[0]).toContain('LIVE');
    expect(find(r.ui, 'HISTORY')).toBeNull();
    expect(row(r, 'temp      ')).toMatch(/temp\s+29\.0 C/);
    expect(r.ui.asOf).toBeNull();
  });

  it('a stale history result is ignored when a newer scrub overtakes it', async () => {
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    r.ui.scrub(-20 * 60_000);
    r.ui.scrub(-1 * 60_000); // before the first finishes
    await vi.waitFor(() => expect(find(r.ui, 'building')).toBeNull());
    expect(r.ui.asOf).toBe(T0 + 9 * 60_000);
    expect(screenText(r.ui)[0]).toContain('as of 2026-11-24 11:09:00Z');
  });

  it('adds a preset note, changes a threshold and the operator, all by key', async () => {
    press(r, 'n');
    await settle(r);
    expect(find(r.ui, 'Maintenance finished')).not.toBeNull();
    press(r, '1');
    await settle(r);
    expect((await events(r, 'NoteAdded'))[0]).toMatchObject({
      data: { text: 'Checked on site' },
      meta: { actor: 'operator:ana' },
    });
    expect(find(r.ui, 'Maintenance finished')).toBeNull();

    press(r, 'o');
    await settle(r);
    press(r, '\x1b[B\r'); // down to "Type a name…", Enter
    await settle(r);
    press(r, 'bo\r');
    await settle(r);
    expect(r.ui.operator).toBe('bo');
    expect(screenText(r.ui)[0]).toContain('operator bo');

    press(r, 't');
    await settle(r);
    expect(row(r, 'above 30, below none')).toMatch(/2\s+temp\s+above 30, below none/);
    press(r, '2'); // hum, temp: temp
    await settle(r);
    expect(find(r.ui, 'Limits of temp (now 21.5)')).not.toBeNull();
    press(r, '35\t'); // type 35 for above, Tab commits it and moves to below
    press(r, '-'); // below: starts from the other limit minus one step
    await settle(r);
    expect(find(r.ui, 'below  34')).not.toBeNull();
    press(r, 'x\r'); // none, then Enter saves
    await settle(r);
    const changes = await events(r, 'ThresholdChanged');
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      data: { sensor: 'temp', above: 35, below: null },
      meta: { actor: 'operator:bo' },
    });
    expect(r.rec.limits('temp')).toMatchObject({ above: 35, below: null });
    expect(find(r.ui, 'Limits of temp')).toBeNull();

    // the same limits again: refused, the editor stays open and says why
    press(r, 't2\r');
    await settle(r);
    expect(find(r.ui, 'the limits of temp are already those')).not.toBeNull();
    expect(find(r.ui, 'Limits of temp')).not.toBeNull();
    press(r, '\x1b');
    await settle(r);
    expect(find(r.ui, 'Limits of temp')).toBeNull();
  });

  it('saves the limits on the first Enter after typing a value, as the README says', async () => {
    press(r, 't2'); // hum, temp: temp
    await settle(r);
    expect(find(r.ui, 'Limits of temp')).not.toBeNull();
    press(r, '32\r');
    await settle(r);
    const changes = await events(r, 'ThresholdChanged');
    expect(changes).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ above: 32, below: null }) }),
    ]);
    expect(find(r.ui, 'Limits of temp')).toBeNull();
    expect(find(r.ui, 'limits of temp: above 32, below none')).not.toBeNull();

    // and after a step with + (no typing), one Enter too
    press(r, 't2+\r');
    await settle(r);
    expect((await events(r, 'ThresholdChanged')).map((e) => e.data?.above)).toEqual([32, 33]);
    expect(find(r.ui, 'Limits of temp')).toBeNull();
  });

  it('draws at most maxFps frames a second under 1000 events/s, and records every reading', async () => {
    const before = r.ui.frames;
    const head = r.log.head().seq;
    for (let ms = 0; ms < 5000; ms += 10) {
      for (let i = 0; i < 10; i++) r.src.reading('temp', 20 + ((ms + i) % 7), 'C');
      await vi.advanceTimersByTimeAsync(10);
    }
    await settle(r, 0);
    const frames = r.ui.frames - before;
    expect(frames).toBeGreaterThanOrEqual(40);
    expect(frames).toBeLessThanOrEqual(5 * 10 + 1);
    expect(r.log.head().seq).toBe(head + 5000);
    expect(row(r, 'temp      ')).toMatch(/temp\s+\d/);
  });

  it('leaves signals to the caller: blessed would exit(0) in the middle of a clean stop', () => {
    const statics = (blessed as unknown as { widget: { Screen: Record<string, unknown> } }).widget.Screen;
    expect(typeof statics._sigtermHandler).toBe('function');
    for (const [signal, key] of [
      ['SIGTERM', '_sigtermHandler'],
      ['SIGINT', '_sigintHandler'],
      ['SIGQUIT', '_sigquitHandler'],
    ] as const) {
      expect(process.listeners(signal)).not.toContain(statics[key]);
    }
  });

  it('quits on q with a quit event', async () => {
    const quit = vi.fn();
    r.ui.on('quit', quit);
    press(r, 'q');
    expect(quit).toHaveBeenCalledOnce();
  });

  it('records a quit with q as DeviceStopped operator-quit, the operator as actor', async () => {
    // wired as `fieldlog device` and the demo wire it: the console's quit, then the stop
    let quitBy: string | null = null;
    r.ui.on('quit', (operator: string) => {
      quitBy ??= operator;
    });
    press(r, 'q');
    expect(quitBy).toBe('ana');
    const cause = stopCause({ failure: null, quitBy, signal: new AbortController().signal });
    await r.rec.stop(cause.reason, cause.operator);
    const stops = await events(r, 'DeviceStopped');
    expect(stops).toEqual([
      expect.objectContaining({ data: { reason: 'operator-quit' }, meta: { actor: 'operator:ana' } }),
    ]);
  });

  it('names the signal, not the operator, when a signal stopped the device', () => {
    const signal = AbortSignal.abort('SIGTERM');
    expect(stopCause({ failure: null, quitBy: 'ana', signal })).toEqual({ reason: 'SIGTERM' });
    expect(stopCause({ failure: null, quitBy: null, signal })).toEqual({ reason: 'SIGTERM' });
    const failure = new Error('disk full');
    expect(stopCause({ failure, quitBy: null, signal })).toEqual({ reason: 'error: disk full' });
    const none = new AbortController().signal;
    expect(stopCause({ failure: null, quitBy: null, signal: none })).toEqual({ reason: 'stopped' });
  });
});

describe('OperatorConsole on a slow terminal', () => {
  afterEach(() => vi.useRealTimers());

  it('skips frames while the terminal is behind and never delays a reading', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    const r = await rig({ slow: true, maxFps: 10 });
    try {
      await settle(r);
      const stuck = r.ui.frames;
      for (let i = 0; i < 2000; i++) {
        r.src.reading('temp', i % 40, 'C');
        if (i % 100 === 0) await vi.advanceTimersByTimeAsync(100);
      }
      await settle(r, 1000);
      expect(r.ui.frames).toBe(stuck);
      expect((await events(r, 'ReadingRecorded')).length).toBe(2000);
      r.term.release();
      await settle(r, 500);
      expect(r.ui.frames).toBeGreaterThan(stuck);
      expect(row(r, 'temp      ')).toMatch(/temp\s+39 C/);
    } finally {
      await r.close();
    }
  });
});

describe('OperatorConsole with more room and a GPS', () => {
  afterEach(() => vi.useRealTimers());

  it('uses a bigger screen and shows the latest position', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    const r = await rig({
      cols: 160,
      rows: 48,
      sync: { status: () => ({ connected: true, acked: 3, head: 5, backlog: 2 }) },
    });
    try {
      r.src.reading('temp', 21.5, 'C');
      r.src.emit({
        kind: 'position',
        position: { fixTime: '11:00:00', lat: 48.85837, lon: 2.294481, alt: 35, sats: 9 },
      } as never);
      await settle(r);
      const text = screenText(r.ui);
      expect(text).toHaveLength(48);
      expect(text[0]!.length).toBe(160);
      expect(text[1]).toContain('sync connected · backlog 2 · acked #3');
      expect(find(r.ui, '48.858370, 2.294481')).not.toBeNull();
      expect(find(r.ui, 'alt 35 m · 9 sats')).not.toBeNull();
    } finally {
      await r.close();
    }
  });
});

describe('OperatorConsole precision', () => {
  afterEach(() => vi.useRealTimers());

  it("shows values to the sensor's precision, configured or as sent; the log keeps them as measured", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    const r = await rig({ precision: { light: 2 } });
    try {
      r.src.emit({ kind: 'connected', port: '/dev/fake' });
      await r.rec.changeThreshold('light', { above: null, below: 41 }, 'ana');
      // a Firmata pin over scale [0, 100]: 10-bit counts 423 and 417
      const light = [(100 * 423) / 1023, (100 * 417) / 1023]; // 41.348973607038126, 40.76246334310851
      r.src.reading('light', light[0]!, '%');
      r.src.reading('light', light[1]!, '%'); // raises light-below
      r.src.reading('temp', 31.5, 'C'); // raises the alarm: above 30
      r.src.reading('temp', 21.25, 'C'); // clears it
      await settle(r);
      expect(row(r, 'light     ')).toMatch(/light\s+40\.76 %\s+40\.76\s+41\.35 /);
      expect(row(r, 'temp      ')).toMatch(/temp\s+21\.25 C\s+21\.25\s+31\.50 /);
      expect(find(r.ui, 'ALARM light below 41.00: 40.76')).not.toBeNull();
      expect(find(r.ui, '> light below 41.00 (40.76)')).not.toBeNull();
      expect(find(r.ui, 'ALARM temp above 30.0: 31.5')).not.toBeNull();
      expect(find(r.ui, 'alarm temp-above cleared at 21.25')).not.toBeNull();
      expect(screenText(r.ui).join('\n')).not.toMatch(/\d\.\d{7}/);
      const values = (await events(r, 'ReadingRecorded')).map((e) => e.data?.value);
      expect(values).toEqual([...light, 31.5, 21.25]);
    } finally {
      await r.close();
    }
  });
});

describe('OperatorConsole at 80×24', () => {
  afterEach(() => vi.useRealTimers());

  /** A click (SGR press, then release) in the middle of a button's label, on the bar's middle row. */
  async function click(r: Rig, label: string): Promise<void> {
    const col = screenText(r.ui)[22]!.indexOf(label);
    expect(col, `"${label}" on the button bar:\n${screenText(r.ui).join('\n')}`).toBeGreaterThanOrEqual(0);
    const x = col + Math.floor(label.length / 2) + 1;
    press(r, `\x1b[<0;${x};23M`);
    await settle(r, 10);
    press(r, `\x1b[<0;${x};23m`);
    await settle(r);
  }

  it('keeps every button, the quit hint and the info line on screen, and every button works', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(T0);
    const info = 'hub API http://127.0.0.1:8080/devices · device log data/device · hub store data/hub';
    const r = await rig({ cols: 80, rows: 24, infoLine: info });
    try {
      r.src.emit({ kind: 'connected', port: '/dev/fake' });
      r.src.reading('temp', 21.5, 'C');
      await vi.advanceTimersByTimeAsync(30 * 60_000);
      r.src.reading('temp', 31.25, 'C');
      await settle(r);
      const text = screenText(r.ui);
      expect(text).toHaveLength(24);
      expect(text.every((l) => l.length === 80)).toBe(true);
      expect(text[2]).toContain('hub API http://127.0.0.1:8080/devices');
      expect(find(r.ui, 'q quit')).not.toBeNull();
      const labels = ['« 10m', '‹ 1m', '1m ›', '10m »', 'LIVE', 'ACK', 'NOTE', 'LIMITS', 'OPERATOR'];
      // each label whole, framed and on the bottom rows
      for (const label of labels) {
        const col = text[22]!.indexOf(label);
        expect(col, `${label} on the button bar:\n${text.join('\n')}`).toBeGreaterThanOrEqual(0);
        expect(text[21]!.slice(col, col + label.length)).toMatch(/^─+$/);
        expect(text[23]!.slice(col, col + label.length)).toMatch(/^─+$/);
      }

      await click(r, '« 10m');
      expect(r.ui.asOf).toBe(T0 + 20 * 60_000);
      await click(r, '‹ 1m');
      expect(r.ui.asOf).toBe(T0 + 19 * 60_000);
      await click(r, '10m »');
      expect(r.ui.asOf).toBe(T0 + 29 * 60_000);
      await click(r, '1m ›');
      expect(r.ui.asOf).toBe(T0 + 30 * 60_000);
      await click(r, '1m ›'); // past now: LIVE
      expect(r.ui.asOf).toBeNull();
      await click(r, '‹ 1m');
      expect(r.ui.asOf).not.toBeNull();
      await click(r, 'LIVE');
      expect(r.ui.asOf).toBeNull();

      await click(r, 'ACK');
      expect((await events(r, 'AlarmAcknowledged')).map((e) => e.data)).toEqual([{ alarm: 'temp-above' }]);
      await click(r, 'NOTE');
      expect(find(r.ui, 'Maintenance finished')).not.toBeNull();
      press(r, '\x1b');
      await settle(r);
      await click(r, 'LIMITS');
      expect(find(r.ui, 'Change limits of')).not.toBeNull();
      press(r, '\x1b');
      await settle(r);
      await click(r, 'OPERATOR');
      expect(find(r.ui, 'Operator (now ana)')).not.toBeNull();
      press(r, '\x1b');
      await settle(r);
      expect(find(r.ui, 'Operator (now ana)')).toBeNull();
    } finally {
      await r.close();
    }
  });
});
