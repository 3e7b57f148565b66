// The device's clock watch on fake clocks: jumps of the wall clock against the monotonic one,
// timesyncd's file appearing, and hub times near or far from ours.
import { describe, expect, it } from 'vitest';
import { ClockWatch, type ClockWatchClock } from '../../src/device/clock-watch.js';
import type { EventInput } from '../../src/log/envelope.js';

/** A wall clock that can be stepped, a monotonic one that cannot, and timers run by `advance`. */
class FakeClocks implements ClockWatchClock {
  wall = Date.parse('2000-01-01T00:00:00.000Z'); // a Pi without RTC starts in the past
  monoMs = 0;
  private timers: { at: number; cb: () => void }[] = [];
  now = () => this.wall;
  mono = () => this.monoMs;
  setTimeout = (cb: () => void, ms: number) => {
    const t = { at: this.monoMs + ms, cb };
    this.timers.push(t);
    return t;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((t) => t !== h);
  };
  advance(ms: number): void {
    const end = this.monoMs + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.wall += due.at - this.monoMs;
      this.monoMs = due.at;
      due.cb();
    }
    this.wall += end - this.monoMs;
    this.monoMs = end;
  }
}

function setup(opts: { synced?: () => boolean } = {}) {
  const clock = new FakeClocks();
  const recorded: EventInput[] = [];
  const watch = new ClockWatch({
    clock,
    record: (e) => recorded.push(e),
    exists: (p) => p === '/test/synchronized' && (opts.synced?.() ?? false),
    timesyncPath: '/test/synchronized',
  });
  watch.start();
  return { clock, watch, recorded, data: () => recorded.map((e) => [e.type, e.data]) };
}

describe('ClockWatch', () => {
  it('records a step of the wall clock as ClockJumped, with its size and sign', () => {
    const { clock, data } = setup();
    clock.advance(5000);
    expect(data()).toEqual([]);
    clock.wall += 3_600_000; // timesyncd steps an hour forward
    clock.advance(1000);
    clock.wall -= 10_000;
    clock.advance(1000);
    expect(data()).toEqual([
      ['ClockJumped', { deltaMs: 3_600_000 }],
      ['ClockJumped', { deltaMs: -10_000 }],
    ]);
  });

  it('ignores drift and slews under the threshold', () => {
    const { clock, data } = setup();
    for (let i = 0; i < 100; i++) {
      clock.wall += 1500; // under 2 s per check
      clock.advance(1000);
    }
    expect(data()).toEqual([]);
  });

  it('records ClockSynced once when timesyncd says the clock is synchronised', () => {
    let synced = false;
    const { clock, data } = setup({ synced: () => synced });
    clock.advance(3000);
    clock.wall += 86_400_000;
    synced = true;
    clock.advance(1000);
    clock.advance(5000);
    expect(data()).toEqual([
      ['ClockJumped', { deltaMs: 86_400_000 }],
      ['ClockSynced', { offsetMs: 0, source: 'timesyncd' }],
    ]);
  });

  it('is not news when timesyncd had synchronised the clock before the start', () => {
    const { clock, data } = setup({ synced: () => true });
    clock.advance(10_000);
    expect(data()).toEqual([]);
  });

  it("records ClockSynced when a hub's time is far from ours, and not when it repeats what we know", () => {
    const { clock, watch, data } = setup();
    clock.advance(1000);
    watch.hubTime(clock.wall + 1500); // network delay, small drift: no news
    expect(data()).toEqual([]);
    watch.hubTime(clock.wall + 7_200_000);
    clock.advance(1000);
    watch.hubTime(clock.wall + 7_200_100); // the same offset again
    expect(data()).toEqual([['ClockSynced', { offsetMs: 7_200_000, source: 'hub' }]]);
    // the clock is stepped by the hub's offset: the hub agrees with us now, nothing more to say
    clock.wall += 7_200_000;
    clock.advance(1000);
    watch.hubTime(clock.wall);
    // the events since the sync were off by the old offset: the step re-anchors them
    expect(data()).toEqual([
      ['ClockSynced', { offsetMs: 7_200_000, source: 'hub' }],
      ['ClockJumped', { deltaMs: 7_200_000 }],
      ['ClockSynced', { offsetMs: 0, source: 'jump' }],
    ]);
    // a step the wrong way after that: the offset it leaves is carried too
    clock.wall -= 30_000;
    clock.advance(1000);
    expect(data().slice(3)).toEqual([
      ['ClockJumped', { deltaMs: -30_000 }],
      ['ClockSynced', { offsetMs: 30_000, source: 'jump' }],
    ]);
  });

  it('records no jump anchor before any sync, nor beside the ClockSynced of timesyncd', () => {
    let synced = false;
    const { clock, watch, data } = setup({ synced: () => synced });
    clock.wall += 60_000; // nothing known yet: a later sync corrects by the monotonic clock anyway
    clock.advance(1000);
    watch.hubTime(clock.wall + 5000);
    clock.wall -= 5000;
    synced = true; // timesyncd steps the clock and says so in the same second
    clock.advance(1000);
    expect(data()).toEqual([
      ['ClockJumped', { deltaMs: 60_000 }],
      ['ClockSynced', { offsetMs: 5000, source: 'hub' }],
      ['ClockJumped', { deltaMs: -5000 }],
      ['ClockSynced', { offsetMs: 0, source: 'timesyncd' }],
    ]);
  });

  it('sees a step before a hub time that arrives between two checks', () => {
    const { clock, watch, data } = setup();
    clock.advance(1000);
    clock.wall -= 60_000;
    watch.hubTime(clock.wall + 60_000);
    expect(data()).toEqual([
      ['ClockJumped', { deltaMs: -60_000 }],
      ['ClockSynced', { offsetMs: 60_000, source: 'hub' }],
    ]);
  });

  it('stops checking when stopped', () => {
    const { clock, watch, data } = setup();
    watch.stop();
    clock.wall += 60_000;
    clock.advance(5000);
    expect(data()).toEqual([]);
  });
});
