// The simulated GPS receiver on fake timers, judged by the device's own NMEA parser and FixEpochs:
// every sentence checks out, the decoded positions are the ones it says it emitted, every
// hemisphere comes out with the right sign, and a tunnel yields no positions at all.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { seededRandom } from '../../firmware-sim/firmata-board.js';
import { NmeaReceiver, type NmeaReceiverOptions } from '../../firmware-sim/nmea-receiver.js';
import { LineSplitter } from '../../src/device/line-protocol.js';
import { FixEpochs, type NmeaParsed, type Position, parseSentence } from '../../src/device/nmea.js';
import { isFieldlogError } from '../../src/errors.js';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-11-24T10:00:00.000Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

/** A receiver wired to the device side: splitter, parser, and fix epochs closed as the device does. */
function receiverWithDevice(options: NmeaReceiverOptions = {}) {
  const gps = new NmeaReceiver({ random: seededRandom(9), record: true, ...options });
  const splitter = new LineSplitter();
  const epochs = new FixEpochs();
  const sentences: NmeaParsed[] = [];
  const positions: Position[] = [];
  gps.onData((chunk) => {
    for (const line of splitter.push(chunk)) {
      const s = parseSentence(line);
      sentences.push(s);
      positions.push(...epochs.push(s, Date.now()));
    }
  });
  const run = (ms: number): void => {
    gps.start();
    vi.advanceTimersByTime(ms);
    gps.stop();
    positions.push(...epochs.flush());
  };
  return { gps, sentences, positions, run };
}

async function expectSamePositions(actual: Position[], expected: readonly Position[]): Promise<void> {
  await expect(actual).toHaveLength(expected.length);
  for (const [i, want] of expected.entries()) {
    const got = actual[i]!;
    await expect({ ...got, lat: 0, lon: 0 }).toEqual({ ...want, lat: 0, lon: 0 });
    await expect(Math.abs(got.lat - want.lat)).toBeLessThan(1e-6);
    await expect(Math.abs(got.lon - want.lon)).toBeLessThan(1e-6);
  }
}

const kinds = (sentences: NmeaParsed[]): string[] =>
  sentences.map((s) =>
    s.kind === 'other' ? s.type : s.kind === 'rejected' ? `rejected:${s.reason}` : s.kind,
  );

/** Great-circle distance in metres. */
function metres(a: Position, b: Position): number {
  const rad = Math.PI / 180;
  const h =
    Math.sin(((b.lat - a.lat) * rad) / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(((b.lon - a.lon) * rad) / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.sqrt(h));
}

describe('NmeaReceiver', () => {
  it('sends RMC, GGA, GSA and GSV each second, every one with a good checksum', async () => {
    const { sentences, run } = receiverWithDevice();
    run(3000);
    const epoch = ['rmc', 'gga', 'GSA', 'GSV', 'GSV', 'GSV'];
    await expect(kinds(sentences)).toEqual([...epoch, ...epoch, ...epoch]);
    for (const s of sentences) if (s.kind !== 'other') await expect(s).toMatchObject({ talker: 'GP' });
  });

  it('decodes, through FixEpochs, to exactly the positions it emitted, with the UTC date and time', async () => {
    const { gps, positions, run } = receiverWithDevice();
    run(120_000);
    await expect(gps.positions()).toHaveLength(120);
    await expectSamePositions(positions, gps.positions());
    await expect(positions[0]?.fixTime).toBe('2026-11-24T10:00:01.000Z');
    await expect(positions[119]?.fixTime).toBe('2026-11-24T10:02:00.000Z');
  });

  it('drives a loop at the set speed, heading along it, over gentle hills', async () => {
    const { positions, run } = receiverWithDevice({
      radiusM: 200,
      speedMps: 10,
      centre: { lat: 51.5, lon: -0.12, alt: 30 },
    });
    run(300_000);
    for (let i = 1; i < positions.length; i++) {
      const step = metres(positions[i - 1]!, positions[i]!);
      await expect(step).toBeGreaterThan(9);
      await expect(step).toBeLessThan(11);
      await expect(Math.abs(positions[i]!.speed! - 10)).toBeLessThan(1);
    }
    const centre = { fixTime: '', lat: 51.5, lon: -0.12 };
    for (const p of positions) await expect(metres(p, centre)).toBeCloseTo(200, 0);
    const alts = positions.map((p) => p.alt!);
    await expect(Math.min(...alts)).toBeGreaterThanOrEqual(30 - 16);
    await expect(Math.max(...alts)).toBeLessThanOrEqual(30 + 16);
    // Heading north-west of north when east of the centre, driving counter-clockwise.
    await expect(positions[0]!.course! > 300 || positions[0]!.course! < 10).toBe(true);
  });

  it.each([
    ['north-east', 47.3769, 8.5417],
    ['south-east', -37.7848, 175.3149],
    ['south-west', -33.45, -70.66],
    ['north-west', 40.3977, -3.6527],
    ['on the equator and the prime meridian', 0, 0],
    ['across the antimeridian', -16.5, 179.999],
  ])('signs latitude and longitude right %s', async (_where, lat, lon) => {
    const { gps, positions, run } = receiverWithDevice({ centre: { lat, lon }, radiusM: 300 });
    run(200_000);
    await expectSamePositions(positions, gps.positions());
    for (const p of positions) {
      await expect(Math.abs(p.lat - lat)).toBeLessThan(0.01);
      const dLon = Math.abs(((p.lon - lon + 540) % 360) - 180);
      await expect(dLon).toBeLessThan(0.01);
      await expect(Math.abs(p.lon)).toBeLessThanOrEqual(180);
    }
    if (lon > 179) {
      await expect(positions.some((p) => p.lon < 0)).toBe(true);
      await expect(positions.some((p) => p.lon > 0)).toBe(true);
    }
  });

  it('loses the fix in a tunnel (quality 0, status V, empty lat/lon) and records nothing then', async () => {
    const { gps, sentences, positions, run } = receiverWithDevice({
      fixLoss: { everyMs: 20_000, forMs: 5000 },
    });
    run(59_000);
    // Epochs at 20–24 s and 40–44 s are in the tunnel: 59 epochs, 10 without a fix.
    await expect(gps.stats).toMatchObject({ epochs: 59, fixEpochs: 49 });
    await expectSamePositions(positions, gps.positions());
    const seconds = positions.map(
      (p) => Number(p.fixTime.slice(17, 19)) + 60 * Number(p.fixTime.slice(14, 16)),
    );
    for (const lost of [20, 24, 40, 44]) await expect(seconds).not.toContain(lost);
    await expect(seconds).toContain(25);
    const noFix = sentences.filter((s) => s.kind === 'gga' && s.quality === 0);
    await expect(noFix).toHaveLength(10);
    for (const s of noFix) await expect(s).not.toHaveProperty('lat');
    const void_ = sentences.filter((s) => s.kind === 'rmc' && s.status === 'V');
    await expect(void_).toHaveLength(10);
    for (const s of void_) await expect(s).toMatchObject({ date: '2026-11-24' });
  });

  it('waits for its first fix after a cold start', async () => {
    const { positions, run } = receiverWithDevice({ firstFixMs: 10_000 });
    run(15_000);
    await expect(positions.map((p) => p.fixTime.slice(11, 19))).toEqual([
      '10:00:10',
      '10:00:11',
      '10:00:12',
      '10:00:13',
      '10:00:14',
      '10:00:15',
    ]);
  });

  it('as GN, sends GN sentences with a GSA per constellation and GPS and GLONASS satellites in view', async () => {
    const { gps, sentences, positions, run } = receiverWithDevice({ talker: 'GN' });
    run(5000);
    const talkers = sentences.map((s) =>
      s.kind === 'rejected' ? '' : `${s.talker}${s.kind === 'other' ? s.type : s.kind}`,
    );
    await expect(talkers.slice(0, 4)).toEqual(['GNrmc', 'GNgga', 'GNGSA', 'GNGSA']);
    await expect(talkers).toContain('GPGSV');
    await expect(talkers).toContain('GLGSV');
    await expectSamePositions(positions, gps.positions());
  });

  it('sends epochs at 5 Hz with centisecond times, satellites in view once a second', async () => {
    const { gps, sentences, positions, run } = receiverWithDevice({ periodMs: 200 });
    run(2000);
    await expect(positions).toHaveLength(10);
    await expectSamePositions(positions, gps.positions());
    await expect(positions.slice(0, 3).map((p) => p.fixTime.slice(17))).toEqual([
      '00.200Z',
      '00.400Z',
      '00.600Z',
    ]);
    await expect(sentences.filter((s) => s.kind === 'other' && s.type === 'GSV')).toHaveLength(6);
  });

  it('prints its start-up banner, which the device rejects as noise without losing an epoch', async () => {
    const { gps, sentences, positions, run } = receiverWithDevice({
      startupText: ['', 'GPS v1.2 boot', 'OK'],
    });
    run(3000);
    await expect(kinds(sentences).slice(0, 3)).toEqual([
      'rejected:empty',
      'rejected:noise',
      'rejected:noise',
    ]);
    await expect(gps.stats.textLines).toBe(3);
    await expect(positions).toHaveLength(3);
  });

  it('checksum faults spoil one sentence of an epoch; the expected positions say what survives', async () => {
    const { gps, sentences, positions, run } = receiverWithDevice({ faults: ['checksum'], faultRate: 0.5 });
    run(300_000);
    const rejected = sentences.filter((s) => s.kind === 'rejected');
    await expect(gps.stats.faults.checksum).toBeGreaterThan(100);
    await expect(rejected).toHaveLength(gps.stats.faults.checksum);
    for (const r of rejected) await expect(r).toMatchObject({ reason: 'checksum' });
    await expectSamePositions(positions, gps.positions());
    await expect(positions).toHaveLength(300);
    // Some epochs lost their RMC (no date, speed, course) and some their GGA (no altitude).
    await expect(positions.some((p) => p.speed === undefined && !p.fixTime.includes('T'))).toBe(true);
    await expect(positions.some((p) => p.alt === undefined)).toBe(true);
  });

  it('garbage comes between epochs as one noise line and costs no position', async () => {
    const { gps, sentences, positions, run } = receiverWithDevice({ faults: ['garbage'], faultRate: 0.3 });
    run(100_000);
    const rejected = sentences.filter((s) => s.kind === 'rejected');
    await expect(gps.stats.faults.garbage).toBeGreaterThan(10);
    await expect(rejected).toHaveLength(gps.stats.faults.garbage);
    for (const r of rejected) await expect(r).toMatchObject({ reason: 'noise' });
    await expectSamePositions(positions, gps.positions());
    await expect(positions).toHaveLength(100);
  });

  it('the fixloss fault turns on the default tunnel', async () => {
    const { gps, run } = receiverWithDevice({ faults: ['fixloss'] });
    run(119_000);
    await expect(gps.stats).toMatchObject({ epochs: 119, fixEpochs: 109 });
  });

  it('ignores input and leaves no timer behind when stopped', async () => {
    const gps = new NmeaReceiver();
    gps.start();
    gps.receive(Buffer.from('$PMTK220,100*2F\r\n'));
    await expect(vi.getTimerCount()).toBe(1);
    gps.stop();
    await expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects impossible options with CONFIG_INVALID', async () => {
    const codeOf = (options: NmeaReceiverOptions): string | undefined => {
      try {
        new NmeaReceiver(options);
      } catch (err) {
        return isFieldlogError(err) ? err.code : 'not a FieldlogError';
      }
      return undefined;
    };
    await expect(codeOf({ talker: 'gps' })).toBe('CONFIG_INVALID');
    await expect(codeOf({ talker: 'PG' })).toBe('CONFIG_INVALID');
    await expect(codeOf({ centre: { lat: 91, lon: 0 } })).toBe('CONFIG_INVALID');
    await expect(codeOf({ periodMs: 0 })).toBe('CONFIG_INVALID');
    await expect(codeOf({ fixLoss: { everyMs: 1000, forMs: 1000 } })).toBe('CONFIG_INVALID');
    await expect(codeOf({ faults: ['drop' as 'garbage'] })).toBe('CONFIG_INVALID');
  });
});
