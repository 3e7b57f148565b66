// `fieldlog hub export`: a device's history or the fleet's, as NDJSON or CSV, streamed,
// with a progress bar when stderr is a terminal.
import { fail } from '../errors.js';
import { exportText } from '../hub/export-text.js';
import { type CommandSpec, ordered, parseFlags, str, time } from './args.js';
import { type FileOutput, openFileOutput } from './file-output.js';
import { openHubStore, storeFlags } from './hub-store.js';
import type { Output } from './output.js';

export { CSV_COLUMNS } from '../hub/export-text.js';

export const HUB_EXPORT: CommandSpec = {
  name: 'hub export',
  positionals: { min: 0, max: 0 },
  summary:
    "Streams a device's history, or the fleet's in arrival order, from a hub store as NDJSON or CSV. A LevelDB store is the hub's alone: stop the hub first (or export from a copy of its folder); a PostgreSQL store can be exported while hubs run.",
  flags: {
    ...storeFlags("the hub's", false),
    device: {
      type: 'string',
      value: 'ID',
      group: 'what',
      required: true,
      help: "export this device's events",
    },
    fleet: {
      type: 'boolean',
      group: 'what',
      required: true,
      help: "export the fleet's events in arrival order",
    },
    format: { type: 'string', value: 'csv|ndjson', default: 'ndjson', help: 'the output format' },
    since: { type: 'string', value: 'T', help: 'only events recorded at or after this time (RFC 3339)' },
    until: { type: 'string', value: 'T', help: 'only events recorded at or before this time' },
    out: {
      type: 'string',
      value: 'FILE',
      help: 'write to FILE (complete, or not at all) instead of stdout',
    },
  },
};

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

export async function runHubExport(
  argv: string[],
  out: Output & { flush?(): Promise<void> },
  signal: AbortSignal,
): Promise<number> {
  const cmd = HUB_EXPORT.name;
  const p = parseFlags(HUB_EXPORT, argv);
  const device = str(p, 'device');
  const format = str(p, 'format');
  if (format !== 'csv' && format !== 'ndjson') throw fail('USAGE', `${cmd}: --format must be csv or ndjson`);
  const from = time(p, 'since');
  const to = time(p, 'until');
  ordered(p, 'since', 'until', from, to);
  const store = await openHubStore(cmd, p, { create: false });
  const where = store.location;
  let file: FileOutput | null = null;
  try {
    const heads = await store.heads();
    if (device !== undefined && !heads.some((h) => h.device === device))
      throw fail('DEVICE_UNKNOWN', `${where} holds no events of device ${device}`);
    const fleetHead = await store.fleetHead();
    if (device === undefined && fleetHead === 0 && heads.length > 0) {
      // a device's own log keeps no fleet order: --fleet would export nothing, silently
      const names = heads.map((h) => h.device);
      throw fail(
        'USAGE',
        `${cmd}: ${where} is a device log (of ${names.join(', ')}), not a hub store: export it with --device ${names[0]}`,
      );
    }
    const path = str(p, 'out');
    if (path !== undefined) file = await openFileOutput(path, cmd);
    const sink: Output = file ?? out;
    const total = device !== undefined ? heads.find((h) => h.device === device)!.head.seq : fleetHead;
    const progress = new Progress(process.stderr.isTTY ? process.stderr : null, total);
    let n = 0;
    // the same text the HTTP API's /devices/ID/export serves (src/hub/export-text.ts)
    for await (const chunk of exportText(store, { device, format, since: from, until: to })) {
      if (signal.aborted) break;
      // a chunk is whole lines; line() adds back the last newline
      await sink.line(chunk.text.slice(0, -1));
      n += chunk.events;
      progress.tick(n);
    }
    // an interrupted export is not a complete one: no file, and not exit code 0
    if (signal.aborted)
      throw fail('OUTPUT_FAILED', `${cmd}: stopped by ${String(signal.reason)} before the end`);
    await file?.commit();
    await out.flush?.();
    progress.done(n);
  } finally {
    await file?.abort();
    await store.close();
  }
  return 0;
}
