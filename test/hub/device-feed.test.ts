// The live device list's pacing, on fake timers: every device when a client comes, a
// changed device at most once a second, a device going online or offline at once, and a
// client that reads nothing dropped once its socket holds more than the cap. The store and
// the client's socket are stand-ins; the HTTP round trip is in http-devices.int.test.ts.
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceStates } from '../../src/hub/device-cache.js';
import { DeviceFeed } from '../../src/hub/device-feed.js';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { ZERO_HASH } from '../../src/log/envelope.js';
import type { DeviceInfo } from '../../src/sync/ingest.js';

class FakeResponse extends EventEmitter {
  text = '';
  writableLength = 0;
  writableNeedDrain = false;
  destroyed = false;
  writableEnded = false;
  /** Bytes written while the client reads nothing (the socket holds them). */
  stalled = false;
  writeHead() {
    return this;
  }
  write(t: string) {
    this.text += t;
    if (this.stalled) {
      this.writableLength += t.length;
      this.writableNeedDrain = true;
    }
    return !this.stalled;
  }
  end(t?: string) {
    if (t) this.text += t;
    this.writableEnded = true;
  }
  destroy() {
    this.destroyed = true;
    this.emit('close');
  }
  /** The devices sent so far, in order, with their online flag. */
  sent(): [string, boolean][] {
    return [...this.text.matchAll(/^data: (.*)$/gm)].map((m) => {
      const d = JSON.parse(m[1]!) as DeviceInfo;
      return [d.device, d.online];
    });
  }
}

function info(device: string): DeviceInfo {
  return {
    device,
    fleet: 'north',
    online: true,
    lastSeen: null,
    head: { seq: 0, hash: ZERO_HASH },
    lag: 0,
    rejects: {},
    forks: 0,
    duplicates: 0,
    rewinds: 0,
  };
}

let devices: DeviceInfo[];
let onlineListeners: Set<(device: string) => void>;
let feed: DeviceFeed;
let drops: number;

beforeEach(() => {
  vi.useFakeTimers();
  devices = [info('pi-a'), info('pi-b')];
  onlineListeners = new Set();
  drops = 0;
  const store = { onAppended: () => () => {} } as unknown as FleetStore;
  feed = new DeviceFeed({
    store,
    states: new DeviceStates(store),
    devices: () => devices.map((d) => ({ ...d })),
    watchOnline: (l) => {
      onlineListeners.add(l);
      return () => onlineListeners.delete(l);
    },
    heartbeatMs: 15_000,
    maxQueuedBytes: 1000,
    onOpen: () => {},
    onClose: () => {},
    onDrop: () => drops++,
    onError: (err) => {
      throw err;
    },
  });
});
afterEach(() => {
  vi.useRealTimers();
});

function connect(): FakeResponse {
  const res = new FakeResponse();
  void feed.serve(res as unknown as ServerResponse);
  return res;
}

describe('the live device list', () => {
  it('sends every device at connect, then a changed device at most once a second', async () => {
    const res = connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(res.sent()).toEqual([
      ['pi-a', true],
      ['pi-b', true],
    ]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(res.sent()).toHaveLength(2); // nothing changed, nothing sent
    devices[0]!.lastSeen = 'one';
    await vi.advanceTimersByTimeAsync(1000);
    expect(res.sent().slice(2)).toEqual([['pi-a', true]]);
    // three changes within the next second: one entry, the last one, a second after the first
    for (let i = 0; i < 3; i++) {
      devices[0]!.lastSeen = `again ${i}`;
      for (const l of onlineListeners) l('pi-a'); // a prompt to look now
      await vi.advanceTimersByTimeAsync(200);
    }
    expect(res.sent()).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(400);
    expect(res.sent()).toHaveLength(4);
    expect(res.text).toContain('"lastSeen":"again 2"');
    res.destroy();
  });

  it('sends a device going offline or online at once', async () => {
    const res = connect();
    await vi.advanceTimersByTimeAsync(0);
    devices[1]!.lastSeen = 'x';
    await vi.advanceTimersByTimeAsync(1000);
    expect(res.sent()).toHaveLength(3);
    // within the second after pi-b was sent, it goes offline: sent without waiting
    devices[1]!.online = false;
    for (const l of onlineListeners) l('pi-b');
    await vi.advanceTimersByTimeAsync(0);
    expect(res.sent().slice(3)).toEqual([['pi-b', false]]);
    res.destroy();
  });

  it('drops a client that reads nothing once its socket holds more than the cap', async () => {
    const slow = connect();
    const fine = connect();
    await vi.advanceTimersByTimeAsync(0);
    slow.stalled = true;
    for (let i = 0; i < 20 && !slow.writableEnded; i++) {
      devices[0]!.lastSeen = `t${i}`;
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(drops).toBe(1);
    expect(slow.text).toMatch(/: dropped: too far behind/);
    const before = fine.sent().length;
    devices[0]!.lastSeen = 'after';
    await vi.advanceTimersByTimeAsync(1000);
    expect(fine.sent().length).toBe(before + 1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(slow.destroyed).toBe(true);
    fine.destroy();
  });
});
