// `fieldlog hub export`: a device's history or the fleet's, as NDJSON or CSV, streamed,
// with a progress bar when stderr is a terminal.
import { createWriteStream } from 'node:fs';
import { fail } from '../errors.js';
import type { Envelope } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { flag, parseFlags, str, time } from './args.js';
import { type Output, streamOutput } from './output.js';

export const EXPORT_USAGE =
  'fieldlog hub export --data DIR (--device ID | --fleet) [--format csv|ndjson] [--since T] [--until T] [--out FILE]';

export const CSV_COLUMNS = [
  'position',
  'device',
  'seq',
  'time',
  'type',
  'actor',
  'source',
  'sensor',
  'value',
  'unit',
  'data',
];

function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV row: readings spread into columns, any other payload as JSON in `data`. */
export function csvRow(e: Envelope, position?: number): string {
  const d = e.data;
  const reading = e.type === 'ReadingRecorded' && d !== null;
  return [
    position,
    e.device,
    e.seq,
    e.time,
    e.type,
    e.meta?.actor,
    d?.source,
    reading ? d.sensor : undefined,
    reading ? d.value : undefined,
    reading ? d.unit : undefined,
    reading || d === null ? undefined : JSON.stringify(d),
  ]
    .map(csvField)
    .join(',');
}

class Progress {
  private last = 0;
  private readonly t0 = Date.now();
  constructor(
    private readonly stream: NodeJS.WriteStream | null,
    private readonly total: number,
  ) {}
  tick(done: number, force = false): void {
    if (!this.stream) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const rate = done / Math.max(0.001, (now - this.t0) / 1000);
    const eta = rate > 0 ? Math.round((this.total - done) / rate) : 0;
    this.stream.write(`\r[${bar}] ${done}/${this.total} ${Math.round(rate)}/s eta ${eta}s `);
  }
  done(n: number): void {
    this.tick(n, true);
    this.stream?.write('\n');
  }
}

export async function runHubExport(argv: string[], out: Output, signal: AbortSignal): Promise<number> {
  const cmd = 'hub export';
  const p = parseFlags(
    cmd,
    argv,
    {
      data: { type: 'string' },
      device: { type: 'string' },
      fleet: { type: 'boolean' },
      format: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      out: { type: 'string' },
    },
    { min: 0, max: 0 },
  );
  const dir = str(p, 'data');
  if (dir === undefined) throw fail('USAGE', `${cmd}: --data DIR is required`);
  const device = str(p, 'device');
  if ((device === undefined) === !flag(p, 'fleet'))
    throw fail('USAGE', `${cmd}: give --device ID or --fleet`);
  const format = str(p, 'format') ?? 'ndjson';
  if (format !== 'csv' && format !== 'ndjson') throw fail('USAGE', `${cmd}: --format must be csv or ndjson`);
  const since = time(p, cmd, 'since') ?? 0;
  const until = time(p, cmd, 'until') ?? Number.POSITIVE_INFINITY;
  const log = await EventLog.open(dir, { fleet: true });
  const file = str(p, 'out');
  const fileStream = file ? createWriteStream(file) : null;
  const sink: Output = fileStream ? streamOutput(fileStream) : out;
  try {
    if (device !== undefined && !log.hasDevice(device))
      throw fail('DEVICE_UNKNOWN', `${dir} holds no events of device ${device}`);
    const total = device !== undefined ? log.head(device).seq : log.fleetHead;
    const progress = new Progress(process.stderr.isTTY ? process.stderr : null, total);
    if (format === 'csv')
      await sink.line((device !== undefined ? CSV_COLUMNS.slice(1) : CSV_COLUMNS).join(','));
    let n = 0;
    const inRange = (e: Envelope) => {
      const t = Date.parse(e.time);
      return t >= since && t <= until;
    };
    if (device !== undefined) {
      for await (const e of log.events({ device })) {
        if (signal.aborted) break;
        n++;
        if (inRange(e)) await sink.line(format === 'csv' ? csvRow(e).slice(1) : JSON.stringify(e));
        progress.tick(n);
      }
    } else {
      for await (const { position, event } of log.fleetEvents()) {
        if (signal.aborted) break;
        n++;
        if (inRange(event))
          await sink.line(format === 'csv' ? csvRow(event, position) : JSON.stringify({ position, event }));
        progress.tick(n);
      }
    }
    progress.done(n);
  } finally {
    if (fileStream) await new Promise<void>((r) => fileStream.end(() => r()));
    await log.close();
  }
  return 0;
}
