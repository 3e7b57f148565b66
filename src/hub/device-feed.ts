// The live device list (`/devices/live`, server-sent events) for the fleet page: every
// device's `/devices` entry when a client comes, then a device again whenever its entry
// changes, at most once a second per device (a busy device's readings would otherwise
// send its entry per batch), except a device that goes online or offline, which is sent at
// once. One feed serves every client: the list is computed once per round (heads from the
// store, states from the hub's cache) and the changed entries written to all. A client
// whose socket holds more than the cap is dropped, like /fleet/live's; it loses nothing by
// reconnecting, since a new client gets every device first.
import type { ServerResponse } from 'node:http';
import type { DeviceInfo } from '../sync/ingest.js';
import type { DeviceStates } from './device-cache.js';
import type { DeviceKeys } from './device-keys.js';
import type { FleetStore } from './fleet-store.js';
import { deviceSummaries } from './http-devices.js';

/** A device's entry is sent at most this often (ms), unless it went online or offline. */
export const DEVICE_EVERY_MS = 1000;
/** Appends come in bursts: one round for a burst. */
const APPEND_DELAY_MS = 100;

export interface DeviceFeedOptions {
  store: FleetStore;
  states: DeviceStates;
  /** Each device's key (device-keys.ts); without it, entries say none. */
  keys?: DeviceKeys;
  devices: () => DeviceInfo[] | Promise<DeviceInfo[]>;
  /** Tells when a device goes online or offline (the ingest); without it, the next round sees it. */
  watchOnline?: (listener: (device: string) => void) => () => void;
  heartbeatMs: number;
  /** What one client's socket may hold before it is dropped. */
  maxQueuedBytes: number;
  onOpen: () => void;
  onClose: () => void;
  onDrop: () => void;
  /** A round that failed (the store): reported; the next round tries again. */
  onError: (err: unknown) => void;
}

interface Sent {
  json: string;
  online: boolean;
  at: number;
}

export class DeviceFeed {
  private readonly clients = new Set<ServerResponse>();
  /** Clients that have not had the whole list yet: the next round sends it to them. */
  private readonly joining = new Set<ServerResponse>();
  private readonly sent = new Map<string, Sent>();
  private timer: NodeJS.Timeout | null = null;
  private due = Number.POSITIVE_INFINITY;
  private running = false;
  private rerun = false;
  /** While anyone is connected: subscriptions and the periodic round. */
  private stops: (() => void)[] = [];

  constructor(private readonly o: DeviceFeedOptions) {}

  /** Serve one client until it goes (or is dropped). */
  async serve(res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': fieldlog devices\n\n');
    this.o.onOpen();
    if (this.clients.size + this.joining.size === 0) this.start();
    this.joining.add(res);
    void this.run();
    await new Promise<void>((resolve) => res.once('close', resolve));
    this.clients.delete(res);
    this.joining.delete(res);
    this.o.onClose();
    if (this.clients.size + this.joining.size === 0) this.stop();
  }

  private start(): void {
    const { store, states, watchOnline } = this.o;
    this.stops.push(states.follow());
    this.stops.push(store.onAppended(() => this.schedule(APPEND_DELAY_MS)));
    if (watchOnline) this.stops.push(watchOnline(() => void this.run()));
    // what the ingest counts without storing (last seen, rejects, lag) is looked at every second
    const round = setInterval(() => void this.run(), DEVICE_EVERY_MS);
    const beat = setInterval(() => {
      // a heartbeat is only worth sending to a socket with room; a full one is busy anyway
      for (const res of this.clients) if (res.writableLength === 0) res.write(': heartbeat\n\n');
    }, this.o.heartbeatMs);
    this.stops.push(
      () => clearInterval(round),
      () => clearInterval(beat),
    );
  }

  private stop(): void {
    for (const s of this.stops.splice(0)) s();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.due = Number.POSITIVE_INFINITY;
    // a client that comes later gets everything anyway
    this.sent.clear();
  }

  /** A round in `delay` ms, unless one is due sooner. */
  private schedule(delay: number): void {
    if (this.clients.size + this.joining.size === 0) return;
    const at = Date.now() + delay;
    if (this.timer && this.due <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.due = Number.POSITIVE_INFINITY;
      void this.run();
    }, delay);
  }

  /** A round now (or right after the one under way). */
  private async run(): Promise<void> {
    if (this.clients.size + this.joining.size === 0) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.rerun = false;
        await this.round();
      } while (this.rerun && this.clients.size + this.joining.size > 0);
    } catch (err) {
      this.o.onError(err);
    } finally {
      this.running = false;
    }
  }

  private async round(): Promise<void> {
    const list = await deviceSummaries(this.o.devices, this.o.states, this.o.keys);
    const now = Date.now();
    let all = '';
    let changed = '';
    let next = Number.POSITIVE_INFINITY;
    for (const d of list) {
      const json = JSON.stringify(d);
      const frame = `event: device\ndata: ${json}\n\n`;
      all += frame;
      const prev = this.sent.get(d.device);
      if (prev?.json === json) continue;
      if (!prev || prev.online !== d.online || now - prev.at >= DEVICE_EVERY_MS) {
        changed += frame;
        this.sent.set(d.device, { json, online: d.online, at: now });
      } else next = Math.min(next, prev.at + DEVICE_EVERY_MS);
    }
    for (const res of this.clients) if (changed !== '') this.send(res, changed);
    for (const res of [...this.joining]) {
      this.joining.delete(res);
      if (res.destroyed || res.writableEnded) continue;
      this.clients.add(res);
      if (all !== '') this.send(res, all);
    }
    if (next < Number.POSITIVE_INFINITY) this.schedule(Math.max(0, next - now));
  }

  private send(res: ServerResponse, text: string): void {
    if (res.destroyed || res.writableEnded) return;
    res.write(text);
    // behind: more held than the cap while the client reads nothing more
    if (res.writableLength > this.o.maxQueuedBytes && res.writableNeedDrain) this.drop(res);
  }

  private drop(res: ServerResponse): void {
    this.clients.delete(res);
    this.o.onDrop();
    res.end(': dropped: too far behind; reconnect to get every device again\n\n');
    const cut = setTimeout(() => res.destroy(), 10_000);
    cut.unref();
    res.once('close', () => clearTimeout(cut));
  }
}
