// What one simulated fleet device records, tick by tick: readings of several sensors (a
// daily-looking temperature swing, humidity, pressure), a GPS fix now and then along a
// slow track, and the alarms the device's own rule (decideAlarms) raises and clears on
// the temperature, acknowledged by an operator some readings later. Pure: time and
// randomness come in, event inputs go out; the log seals them.
import { decideAlarms } from '../src/device/alarms.js';
import type { EventInput } from '../src/log/envelope.js';

/** Above this the temperature raises an alarm (cleared 1 % below, as the device does). */
export const TEMP_LIMIT = 25;
/** Temperature readings in one full swing of the simulated day. */
const SWING = 300;
/** One GPS fix every this many readings. */
const FIX_EVERY = 10;
const SOURCE = 'node';
const SENSOR_META = { actor: `sensor:${SOURCE}` };
const GPS_META = { actor: 'sensor:gps' };
const SYSTEM = { actor: 'system' };
const LIMITS = { above: TEMP_LIMIT, below: null };

export class FleetDeviceModel {
  private n = 0;
  private readonly phase: number;
  private lat: number;
  private lon: number;
  private readonly heading: number;
  private readonly active = new Set<string>();
  /** Raised alarms an operator has yet to acknowledge. */
  private readonly unacked = new Set<string>();

  constructor(
    readonly index: number,
    private readonly random: () => number,
  ) {
    this.phase = Math.floor(random() * SWING);
    // somewhere in central Europe, each device on its own straight track
    this.lat = 45 + random() * 10;
    this.lon = 5 + random() * 15;
    this.heading = random() * 360;
  }

  /** The events of one reading tick at wall time `ms`: one reading, maybe a fix and alarm events. */
  tick(ms: number): EventInput[] {
    const i = this.n++;
    const out: EventInput[] = [];
    const r = this.random;
    switch (i % 3) {
      case 0: {
        const t = i / 3 + this.phase;
        const value = round(20 + 6 * Math.sin((2 * Math.PI * t) / SWING) + (r() - 0.5), 2);
        out.push(reading('temp', value, 'C'));
        for (const a of decideAlarms('temp', value, LIMITS, (id) => this.active.has(id))) {
          if (a.type === 'AlarmRaised') {
            this.active.add(a.data.alarm);
            this.unacked.add(a.data.alarm);
          } else {
            this.active.delete(a.data.alarm);
            this.unacked.delete(a.data.alarm);
          }
          out.push({ type: a.type, data: { ...a.data }, meta: SYSTEM });
        }
        break;
      }
      case 1:
        out.push(reading('hum', round(45 + 15 * r(), 1), '%'));
        break;
      default:
        out.push(reading('pressure', round(1013 + 8 * (r() - 0.5), 1), 'hPa'));
    }
    // an operator gets round to an active alarm a few readings after it was raised
    for (const alarm of this.unacked) {
      if (r() < 0.1) {
        this.unacked.delete(alarm);
        out.push({
          type: 'AlarmAcknowledged',
          data: { alarm, comment: 'seen' },
          meta: { actor: `operator:op${(this.index % 7) + 1}` },
        });
      }
    }
    if (i % FIX_EVERY === 0) out.push(this.fix(ms));
    return out;
  }

  private fix(ms: number): EventInput {
    const speed = round(1 + 2 * this.random(), 2);
    // metres per fix along the heading, in degrees (close enough away from the poles)
    const step = (speed * FIX_EVERY) / 111_320;
    const rad = (this.heading * Math.PI) / 180;
    this.lat = round(this.lat + step * Math.cos(rad), 7);
    this.lon = round(this.lon + (step * Math.sin(rad)) / Math.cos((this.lat * Math.PI) / 180), 7);
    return {
      type: 'PositionRecorded',
      data: {
        source: 'gps',
        fixTime: new Date(ms).toISOString(),
        lat: this.lat,
        lon: this.lon,
        alt: round(200 + 50 * this.random(), 1),
        speed,
        course: round(this.heading, 1),
        sats: 6 + Math.floor(this.random() * 6),
        hdop: round(0.8 + this.random(), 2),
      },
      meta: GPS_META,
    };
  }
}

function reading(sensor: string, value: number, unit: string): EventInput {
  return { type: 'ReadingRecorded', data: { source: SOURCE, sensor, value, unit }, meta: SENSOR_META };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
