// NMEA 0183 parsing and fix epochs: unit tests, then the real receiver captures from gpsd's
// regression suite checked strictly against gpsd's own decode of them.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wrapFrame } from '../../src/device/frame.js';
import { LineSplitter } from '../../src/device/line-protocol.js';
import { FixEpochs, type NmeaParsed, type Position, parseSentence } from '../../src/device/nmea.js';

const nmea = (body: string): string => wrapFrame(body).slice(0, -2);
const reason = (p: NmeaParsed): string | undefined => (p.kind === 'rejected' ? p.reason : undefined);
const hms = (h: number, m: number, s: number, ms = 0): number => ((h * 60 + m) * 60 + s) * 1000 + ms;

const GGA = '$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D';
const RMC = '$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D';

describe('parseSentence', () => {
  it('parses GGA fully, south negative', async () => {
    const p = parseSentence(GGA);
    await expect(p).toMatchObject({
      kind: 'gga',
      talker: 'GP',
      time: hms(3, 7, 19),
      quality: 1,
      sats: 8,
      hdop: 1.1,
      alt: 59.9,
      geoidSep: 23.7,
    });
    if (p.kind !== 'gga') throw new Error('not GGA');
    await expect(p.lat).toBeCloseTo(-37.784788333, 8);
    await expect(p.lon).toBeCloseTo(175.314896667, 8);
  });

  it('parses RMC fully: knots kept, m/s derived, date', async () => {
    const p = parseSentence(RMC);
    await expect(p).toMatchObject({
      kind: 'rmc',
      talker: 'GP',
      time: hms(3, 7, 19),
      status: 'A',
      speedKnots: 0.69,
      course: 181.39,
      date: '2014-12-31',
      mode: 'A',
    });
    if (p.kind !== 'rmc') throw new Error('not RMC');
    await expect(p.speedMps).toBeCloseTo((0.69 * 1852) / 3600, 12);
  });

  it('parses GLL, west negative, fractional seconds', async () => {
    const p = parseSentence(nmea('GPGLL,4023.8600,N,00339.1630,W,214350.25,A,A'));
    await expect(p).toMatchObject({ kind: 'gll', status: 'A', mode: 'A', time: hms(21, 43, 50, 250) });
    if (p.kind !== 'gll') throw new Error('not GLL');
    await expect(p.lat).toBeCloseTo(40.397666667, 8);
    await expect(p.lon).toBeCloseTo(-3.652716667, 8);
  });

  it('accepts any talker', async () => {
    for (const talker of ['GN', 'GL', 'BD', 'GA', 'GB']) {
      await expect(
        parseSentence(nmea(`${talker}GGA,135651.997,5543.0328,N,03724.7198,E,1,06,01.8,165.6,M,14.6,M,,`)),
      ).toMatchObject({ kind: 'gga', talker, quality: 1, time: hms(13, 56, 51, 997) });
    }
  });

  it('leaves empty fields out', async () => {
    await expect(parseSentence('$GPGGA,,,,,,0,00,99.99,,,,,,*48')).toEqual({
      kind: 'gga',
      talker: 'GP',
      quality: 0,
      sats: 0,
      hdop: 99.99,
    });
    await expect(parseSentence('$GPRMC,,V,,,,,,,,,,N*53')).toEqual({
      kind: 'rmc',
      talker: 'GP',
      status: 'V',
      mode: 'N',
    });
  });

  it('reports other valid sentences by type, proprietary ones included', async () => {
    await expect(parseSentence('$GPGSA,A,3,17,28,06,01,30,20,26,13,,,,,1.8,1.1,1.5*33')).toEqual({
      kind: 'other',
      talker: 'GP',
      type: 'GSA',
    });
    await expect(parseSentence('$PGRME,15.0,M,22.5,M,27.0,M*1A')).toEqual({ kind: 'other', type: 'PGRME' });
    // SiRF start-up text runs straight into its address: the manufacturer is all we can name.
    await expect(parseSentence('$PSRFTXTVersion GSW3.2.2_3.1.00.12-SDK003P1.01a *78')).toEqual({
      kind: 'other',
      type: 'PSRF',
    });
  });

  const rejections: [string, string, string][] = [
    ['an empty line', '', 'empty'],
    ['a bad checksum', GGA.replace(/7D$/, '7E'), 'checksum'],
    ['a missing checksum', GGA.replace(/\*7D$/, ''), 'truncated'],
    ['a cut-off checksum', '$GPBOD,,T,,M,,*', 'truncated'],
    ['start-up text', 'SiRF boot loader v2', 'noise'],
    ['escape sequences', `$GPGSA,A,3,26*3\u001b[H\u001b[J3`, 'noise'],
    ['a malformed address', nmea('G,1,2'), 'syntax'],
    ['an impossible time', nmea('GPGGA,256199.00,,,,,0,00,,,,,,,'), 'field'],
    ['a malformed latitude', nmea('GPGGA,030719.000,37x7.0873,S,17518.8938,E,1,08,1.1,59.9,M,,,,'), 'field'],
    ['minutes of 60 or more', nmea('GPGGA,030719.000,3760.0000,S,17518.8938,E,1,08,1.1,59.9,M,,,,'), 'field'],
    ['a bad hemisphere', nmea('GPRMC,030719.000,A,3747.0873,X,17518.8938,E,0.69,181.39,311214,,,A'), 'field'],
    ['a bad date', nmea('GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,321314,,,A'), 'field'],
    ['a non-numeric quality', nmea('GPGGA,030719.000,3747.0873,S,17518.8938,E,x,08,1.1,59.9,M,,,,'), 'field'],
  ];
  it.each(rejections)('rejects %s', async (_name, input, expected) => {
    await expect(reason(parseSentence(input))).toBe(expected);
  });
});

describe('FixEpochs', () => {
  const gga = (time: string, quality = 1, talker = 'GP') =>
    parseSentence(nmea(`${talker}GGA,${time},4807.038,N,01131.324,E,${quality},08,0.9,545.4,M,46.9,M,,`));
  const rmc = (time: string, status = 'A', mode = 'A') =>
    parseSentence(nmea(`GPRMC,${time},${status},4807.038,N,01131.324,E,10.0,84.4,230394,003.1,W,${mode}`));
  const gsv = parseSentence('$GPGSV,3,3,12,11,12,132,04,08,38,008,,02,35,348,,03,14,091,*73');
  const lat = 48 + 7.038 / 60;
  const lon = 11 + 31.324 / 60;

  it('records one merged position when the next epoch starts', async () => {
    const e = new FixEpochs();
    await expect(e.push(gga('123519'), 0)).toEqual([]);
    await expect(e.push(gsv, 10)).toEqual([]);
    await expect(e.push(rmc('123519'), 20)).toEqual([]);
    const [p, ...rest] = e.push(gga('123520'), 1000);
    await expect(rest).toEqual([]);
    await expect(p).toMatchObject({
      fixTime: '1994-03-23T12:35:19.000Z',
      alt: 545.4,
      sats: 8,
      hdop: 0.9,
      course: 84.4,
    });
    await expect(p?.lat).toBeCloseTo(lat, 10);
    await expect(p?.lon).toBeCloseTo(lon, 10);
    await expect(p?.speed).toBeCloseTo(10 * 0.514444, 5);
    await expect(e.flush()).toHaveLength(1);
    await expect(e.flush()).toEqual([]);
  });

  it('records after 1 s of silence, and never twice for a late sentence', async () => {
    const e = new FixEpochs();
    e.push(gga('123519'), 5000);
    await expect(e.idle(5999)).toEqual([]);
    await expect(e.idle(6000)).toHaveLength(1);
    await expect(e.push(rmc('123519'), 6500)).toEqual([]);
    await expect(e.flush()).toEqual([]);
  });

  it('counts silence from the epoch’s last GGA/RMC/GLL, not from other chatter', async () => {
    const e = new FixEpochs();
    e.push(gga('123519'), 0);
    e.push(gsv, 900);
    await expect(e.idle(1000)).toHaveLength(1);
  });

  it('closes an overdue epoch before taking the next sentence', async () => {
    const e = new FixEpochs();
    e.push(gga('123519'), 0);
    await expect(e.push(rmc('123519'), 3000)).toHaveLength(1);
  });

  it('records nothing without a fix, and nothing in demo or manual mode', async () => {
    const epochs: NmeaParsed[][] = [
      [gga('123519', 0), rmc('123519', 'V')],
      [gga('123519', 7)],
      [gga('123519', 8), rmc('123519', 'V', 'S')],
      [gga('123519', 8), rmc('123519', 'A', 'A')], // one simulated sentence vetoes the epoch
      [rmc('123519', 'A', 'S')],
      [rmc('123519', 'A', 'N')],
      [parseSentence(nmea('GPGGA,,,,,,1,08,0.9,,,,,,'))], // no time: cannot be placed
    ];
    for (const sentences of epochs) {
      const e = new FixEpochs();
      const out = sentences.flatMap((s, i) => e.push(s, i));
      await expect([...out, ...e.flush()]).toEqual([]);
    }
  });

  it('takes a fix from RMC when GGA says none, with only RMC’s values', async () => {
    const e = new FixEpochs();
    e.push(gga('123519', 0), 0);
    e.push(rmc('123519'), 1);
    const [p] = e.flush();
    await expect(p).toEqual({
      fixTime: '1994-03-23T12:35:19.000Z',
      lat,
      lon,
      speed: expect.any(Number),
      course: 84.4,
    });
  });

  it('takes a fix from GGA when RMC says V, without RMC’s date, speed or course', async () => {
    const e = new FixEpochs();
    e.push(gga('123519.5'), 0);
    e.push(rmc('123519.5', 'V'), 1);
    await expect(e.flush()).toEqual([{ fixTime: '12:35:19.500Z', lat, lon, alt: 545.4, sats: 8, hdop: 0.9 }]);
  });

  it('records a fix reported in GLL alone', async () => {
    const e = new FixEpochs();
    e.push(parseSentence(nmea('GPGLL,5547.82107,N,02334.14132,E,152504.50,A,A')), 0);
    const [p] = e.flush();
    await expect(p?.fixTime).toBe('15:25:04.500Z');
    await expect(p?.lat).toBeCloseTo(55.797017833, 8);
  });

  it('makes one position of several talkers’ GGAs in one epoch, the first one winning', async () => {
    const e = new FixEpochs();
    e.push(gga('123519', 1, 'GN'), 0);
    e.push(parseSentence(nmea('GLGGA,123519,4807.100,N,01131.324,E,1,04,2.3,545.4,M,46.9,M,,')), 1);
    const out = [...e.push(gga('123520'), 2), ...e.flush()];
    await expect(out.map((p) => p.fixTime)).toEqual(['12:35:19.000Z', '12:35:20.000Z']);
    await expect(out[0]?.lat).toBeCloseTo(lat, 10);
  });

  it('ignores rejections and sentences without a time', async () => {
    const e = new FixEpochs();
    e.push(gga('123519'), 0);
    await expect(e.push(parseSentence('garbage'), 1)).toEqual([]);
    await expect(e.push(parseSentence('$GPRMC,,V,,,,,,,,,,N*53'), 2)).toEqual([]);
    await expect(e.flush()).toHaveLength(1);
  });
});

// ---- real receivers, against gpsd ----

// Copied into the repository with gpsd's licence; test/fixtures/gpsd/README.md says what each is.
const CAPTURES = new URL('../fixtures/gpsd/', import.meta.url);
const captureNames = readdirSync(CAPTURES)
  .filter((n) => n.endsWith('.log'))
  .map((n) => n.slice(0, -4))
  .sort();
const EPSILON_DEG = 1e-6;

/** The time of day in `hh:mm:ss.sss`, the key both sides' epochs are matched on. */
const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);
const positionClock = (p: Position): string => p.fixTime.replace(/^.*T/, '').slice(0, 12);

/** What fieldlog records from a raw capture: split, parse, group into epochs (10 ms per line). */
function record(name: string): { positions: Position[]; rejectedSentences: string[] } {
  const raw = readFileSync(new URL(`${name}.log`, CAPTURES));
  const splitter = new LineSplitter();
  const epochs = new FixEpochs();
  const positions: Position[] = [];
  const rejectedSentences: string[] = [];
  let now = 0;
  const take = (line: Buffer) => {
    const parsed = parseSentence(line);
    // Lines that do not even start like a sentence (gpsd's `#` headers, debug text) are noise;
    // a line that looks like a sentence but is rejected is collected for an explicit check.
    if (parsed.kind === 'rejected' && line[0] === 0x24) rejectedSentences.push(line.toString('latin1'));
    now += 10;
    positions.push(...epochs.idle(now), ...epochs.push(parsed, now));
  };
  // Odd-sized chunks, so sentences arrive fragmented as they do from a serial port.
  for (let i = 0; i < raw.length; i += 37) splitter.push(raw.subarray(i, i + 37)).forEach(take);
  const tail = splitter.end();
  if (tail !== undefined) take(tail);
  positions.push(...epochs.flush());
  return { positions, rejectedSentences };
}

interface GpsdFix {
  epoch: string;
  lat: number;
  lon: number;
  altMSL?: number;
  track?: number;
  speed?: number;
}

/**
 * gpsd's fixes from a `.chk`, each assigned to the epoch of the last GGA/RMC/GLL time before it:
 * gpsd prints a TPV after some sentences of an epoch (often several per epoch, and none after
 * sentences without a time, like GSA, which still belong to the running epoch).
 */
function gpsdFixes(name: string): GpsdFix[] {
  const fixes: GpsdFix[] = [];
  let epoch: string | undefined;
  for (const text of readFileSync(new URL(`${name}.log.chk`, CAPTURES), 'latin1').split(/\r?\n/)) {
    if (text.startsWith('$')) {
      const s = parseSentence(text);
      if ((s.kind === 'gga' || s.kind === 'rmc' || s.kind === 'gll') && s.time !== undefined)
        epoch = clock(s.time);
    } else if (text.startsWith('{')) {
      const tpv = JSON.parse(text) as {
        class: string;
        mode?: number;
        lat?: number;
        lon?: number;
      } & Partial<GpsdFix>;
      if (tpv.class !== 'TPV' || (tpv.mode ?? 0) < 2 || tpv.lat === undefined || tpv.lon === undefined)
        continue;
      if (epoch === undefined) throw new Error(`${name}: a gpsd fix before any timed sentence`);
      const { altMSL, track, speed } = tpv;
      fixes.push({ epoch, lat: tpv.lat, lon: tpv.lon, altMSL, track, speed });
    }
  }
  return fixes;
}

/**
 * Every legitimate difference from gpsd, by epoch. The test fails if one is missing or a new one
 * appears, so none is ever absorbed silently.
 */
const DIFFERENCES: Record<string, { gpsdOnly?: string[]; fieldlogOnly?: string[] }> = {
  // Demo mode: GGA quality 8 (simulation) and RMC/GLL mode S. gpsd reports the first epoch as
  // `"status":8,"mode":3` after GGA and GSA, then again as mode 3 without a status after the
  // Garmin PGRMZ altitude sentence (whose fix field says 3D). Neither is a receiver's fix:
  // docs/protocol.md §8 counts GGA quality 1–6 only, and simulated positions must never be logged.
  'garmin-geko201': { gpsdOnly: ['21:43:50.000'] },
  // The capture is two sessions spliced together. gpsd reports an epoch when its cycle ends
  // (after GLL for this receiver); at 15:25:08.50 the first session is cut after GGA/GSA/GSV, and
  // the file ends after the RMC/VTG of 14:33:08.50, so gpsd never reports either. fieldlog records
  // both: the first when the next epoch starts, the last at flush (docs/protocol.md §8: "or at shutdown").
  bt451: { fieldlogOnly: ['15:25:08.500', '14:33:08.500'] },
};

/** Rejected lines that start like sentences: every one is damaged on the capture itself. */
const DAMAGED: Record<string, string[]> = {
  // A terminal's clear-screen escapes were captured inside a GSA.
  'et-332': [
    '$GPGSA,A,3,26,15,21,27,24,09,18,05,29,,,,1.9,1.3,1.4*3\u001b[H\u001b[J\u001b[H\u001b[J\u001b[H\u001b[J3',
  ],
  // The capture ends in the middle of the last sentence's checksum.
  'garmin-geko201': ['$GPBOD,,T,,M,,*'],
};

describe('real receiver captures (gpsd regression suite)', () => {
  it('finds every capture in test/fixtures/gpsd', async () => {
    await expect(captureNames).toEqual([
      'blumax-gps009',
      'bt-q818',
      'bt451',
      'bu353s4',
      'ch-4711',
      'et-332',
      'garmin-geko201',
      'gpslim236',
    ]);
  });

  it.each(captureNames)('%s: records exactly gpsd’s fixes, one position per epoch', async (name) => {
    const { positions, rejectedSentences } = record(name);
    const gpsd = gpsdFixes(name);
    const known = DIFFERENCES[name] ?? {};

    await expect(rejectedSentences).toEqual(DAMAGED[name] ?? []);
    const byEpoch = new Map(positions.map((p) => [positionClock(p), p]));
    await expect(byEpoch.size).toBe(positions.length); // never two positions for one epoch

    const gpsdEpochs = new Set(gpsd.map((f) => f.epoch));
    const gpsdOnly = [...gpsdEpochs].filter((epoch) => !byEpoch.has(epoch));
    const fieldlogOnly = [...byEpoch.keys()].filter((epoch) => !gpsdEpochs.has(epoch));
    await expect(gpsdOnly).toEqual(known.gpsdOnly ?? []);
    await expect(fieldlogOnly).toEqual(known.fieldlogOnly ?? []);

    for (const fix of gpsd) {
      const p = byEpoch.get(fix.epoch);
      if (p === undefined) continue; // a listed difference, checked above
      const where = `${name} ${fix.epoch}`;
      await expect(Math.abs(p.lat - fix.lat), where).toBeLessThanOrEqual(EPSILON_DEG);
      await expect(Math.abs(p.lon - fix.lon), where).toBeLessThanOrEqual(EPSILON_DEG);
      if (fix.altMSL !== undefined) await expect(p.alt, where).toBeCloseTo(fix.altMSL, 3);
      // gpsd's speed before an epoch's RMC is its own estimate from moving positions; once it
      // has seen the RMC (a TPV with `track`), speed and course are the receiver's.
      if (fix.track !== undefined) {
        await expect(p.course, where).toBeCloseTo(fix.track, 3);
        await expect(p.speed, where).toBeCloseTo(fix.speed ?? Number.NaN, 3);
      }
    }
  });

  it('garmin-geko201 in demo mode records no position', async () => {
    await expect(record('garmin-geko201').positions).toEqual([]);
  });

  it('bt451: the indoor no-fix start records nothing; the spliced-in fixes later are recorded', async () => {
    // README and the capture's header call bt451 "no fix, indoors", but only its opening is: the
    // capture continues with two outdoor sessions, for which gpsd itself reports 18 mode 2/3 TPVs.
    const { positions } = record('bt451');
    await expect(positions[0]?.fixTime).toBe('15:25:04.500Z'); // a GLL-only fix, gpsd's first (mode 2)
    await expect(positions.length).toBe(15);
  });

  it('records the southern/eastern hemisphere with its sign (bu353s4)', async () => {
    const [first] = record('bu353s4').positions;
    await expect(first).toMatchObject({ fixTime: '2014-12-31T03:07:19.000Z', sats: 8, hdop: 1.1, alt: 59.9 });
    await expect(first?.lat).toBeCloseTo(-37.784788333, 8);
    await expect(first?.lon).toBeCloseTo(175.314896667, 8);
  });

  it('ch-4711: records the GLONASS fixes and nothing after the receiver loses lock', async () => {
    const { positions } = record('ch-4711');
    await expect(positions.map(positionClock)).toEqual([
      '13:56:51.997',
      '13:56:52.997',
      '13:56:53.997',
      '13:56:54.997',
      '13:56:55.997',
      '13:56:56.997',
      '13:56:57.997',
    ]);
  });
});
