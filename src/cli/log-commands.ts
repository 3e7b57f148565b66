// `fieldlog log verify|cat|state|stats|append|redact`: the log, from the shell.
import { fail, isFieldlogError } from '../errors.js';
import { deviceState } from '../log/device-state.js';
import { parseEventInput } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { parseIJson } from '../log/ijson.js';
import { Projector } from '../log/projection.js';
import type { VerifyReport } from '../log/verify.js';
import { flag, int, parseFlags, str, time } from './args.js';
import { utf8Lines } from './ndjson-lines.js';
import type { Output } from './output.js';

export const LOG_USAGE = `fieldlog log verify DIR [--device ID] [--json]
fieldlog log cat DIR [--device ID] [--from-seq N] [--to-seq N] [--since T] [--until T]
fieldlog log state DIR [--device ID] [--at TIME | --at-seq N]
fieldlog log stats DIR [--device ID] [--json]
fieldlog log append DIR [--device ID] < events.ndjson
fieldlog log redact DIR --seq N --reason TEXT --actor operator:NAME [--device ID]`;

const device = { device: { type: 'string' } } as const;

async function openExisting(dir: string, dev: string | undefined): Promise<EventLog> {
  const log = await EventLog.open(dir, {});
  if (dev !== undefined && !log.hasDevice(dev)) {
    await log.close();
    throw fail(
      'DEVICE_UNKNOWN',
      `${dir} holds no events of device ${dev} (it holds: ${log.deviceNames().join(', ') || 'none'})`,
    );
  }
  return log;
}

async function withLog<T>(
  dir: string,
  dev: string | undefined,
  fn: (log: EventLog) => Promise<T>,
): Promise<T> {
  const log = await openExisting(dir, dev);
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

function describeReport(device: string, r: VerifyReport): string[] {
  const lines = [
    r.ok
      ? `${device}: ok, ${r.events} events, head ${r.head.seq} ${r.head.hash}`
      : `${device}: FAILED, ${r.errors.length} problem(s) in ${r.events} events`,
  ];
  for (const e of r.errors.slice(0, 50))
    lines.push(`  seq ${e.seq}: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`);
  if (r.errors.length > 50) lines.push(`  ... and ${r.errors.length - 50} more`);
  return lines;
}

async function verify(argv: string[], out: Output): Promise<number> {
  const p = parseFlags('log verify', argv, { ...device, json: { type: 'boolean' } }, { min: 1, max: 1 });
  const dir = p.positionals[0]!;
  return withLog(dir, str(p, 'device'), async (log) => {
    const devices = str(p, 'device') ? [str(p, 'device')!] : log.deviceNames();
    let ok = true;
    for (const d of devices) {
      const r = await log.verify(d);
      ok &&= r.ok;
      if (flag(p, 'json')) await out.line(JSON.stringify({ ...r, device: d }));
      else for (const l of describeReport(d, r)) await out.line(l);
    }
    if (devices.length === 0 && !flag(p, 'json')) await out.line(`${dir}: empty log`);
    return ok ? 0 : 1;
  });
}

async function cat(argv: string[], out: Output): Promise<number> {
  const cmd = 'log cat';
  const p = parseFlags(
    cmd,
    argv,
    {
      ...device,
      'from-seq': { type: 'string' },
      'to-seq': { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
    },
    { min: 1, max: 1 },
  );
  const fromSeq = int(p, cmd, 'from-seq', 1);
  const toSeq = int(p, cmd, 'to-seq', 1);
  const since = time(p, cmd, 'since');
  const until = time(p, cmd, 'until');
  return withLog(p.positionals[0]!, str(p, 'device'), async (log) => {
    const dev = str(p, 'device');
    let lo = fromSeq ?? 1;
    let hi = toSeq ?? log.head(dev).seq;
    if (since !== undefined || until !== undefined) {
      // The time index bounds the seqs to read; reading stays in seq order.
      const bounds = await log.timeBounds({ device: dev, since, until });
      lo = Math.max(lo, bounds?.fromSeq ?? Number.POSITIVE_INFINITY);
      hi = Math.min(hi, bounds?.toSeq ?? 0);
    }
    const s = since ?? 0;
    const u = until ?? Number.POSITIVE_INFINITY;
    for await (const e of log.events({ device: dev, fromSeq: lo, toSeq: hi })) {
      if (since !== undefined || until !== undefined) {
        const t = Date.parse(e.time);
        if (t < s || t > u) continue;
      }
      await out.line(JSON.stringify(e));
    }
    return 0;
  });
}

async function state(argv: string[], out: Output): Promise<number> {
  const cmd = 'log state';
  const p = parseFlags(
    cmd,
    argv,
    { ...device, at: { type: 'string' }, 'at-seq': { type: 'string' } },
    { min: 1, max: 1 },
  );
  const at = time(p, cmd, 'at');
  const atSeq = int(p, cmd, 'at-seq', 0);
  if (at !== undefined && atSeq !== undefined) throw fail('USAGE', `${cmd}: give --at or --at-seq, not both`);
  return withLog(p.positionals[0]!, str(p, 'device'), async (log) => {
    const dev = str(p, 'device');
    const projector = new Projector(log, deviceState, dev === undefined ? {} : { device: dev });
    const r = await projector.stateAt(
      at !== undefined ? { time: at } : atSeq !== undefined ? { seq: atSeq } : {},
    );
    await out.line(JSON.stringify({ device: dev ?? log.device, asOfSeq: r.seq, state: r.state }, null, 2));
    return 0;
  });
}

async function stats(argv: string[], out: Output): Promise<number> {
  const p = parseFlags('log stats', argv, { ...device, json: { type: 'boolean' } }, { min: 1, max: 1 });
  return withLog(p.positionals[0]!, str(p, 'device'), async (log) => {
    const devices = str(p, 'device') ? [str(p, 'device')!] : log.deviceNames();
    const bytes = await log.approximateSize();
    for (const d of devices) {
      const types: Record<string, number> = {};
      const boots = new Set<string>();
      let first: number | null = null;
      let last: number | null = null;
      let redacted = 0;
      for await (const e of log.foldEvents({ device: d })) {
        types[e.type] = (types[e.type] ?? 0) + 1;
        boots.add(e.boot);
        if (first === null) first = e.timeMs;
        last = e.timeMs;
        if (e.data === null) redacted++;
      }
      const head = log.head(d);
      const st = {
        device: d,
        events: head.seq,
        head,
        first: first === null ? null : new Date(first).toISOString(),
        last: last === null ? null : new Date(last).toISOString(),
        boots: boots.size,
        redacted,
        types,
        ...(devices.length === 1
          ? { bytesOnDisk: bytes, bytesPerEvent: head.seq ? Math.round(bytes / head.seq) : 0 }
          : {}),
      };
      if (flag(p, 'json')) {
        await out.line(JSON.stringify(st));
        continue;
      }
      await out.line(`device   ${d}`);
      await out.line(`events   ${st.events}   head ${head.hash}`);
      await out.line(
        `span     ${st.first ?? '-'} .. ${st.last ?? '-'}   boots ${st.boots}   redacted ${redacted}`,
      );
      if (st.bytesOnDisk !== undefined)
        await out.line(`disk     ${st.bytesOnDisk} bytes (${st.bytesPerEvent} per event)`);
      for (const [t, n] of Object.entries(types).sort((a, b) => b[1] - a[1]))
        await out.line(`  ${t.padEnd(20)} ${n}`);
    }
    if (devices.length > 1 && !flag(p, 'json')) await out.line(`store    ${bytes} bytes on disk`);
    return 0;
  });
}

async function append(
  argv: string[],
  out: Output,
  input: NodeJS.ReadableStream,
  signal: AbortSignal,
): Promise<number> {
  const cmd = 'log append';
  const p = parseFlags(cmd, argv, { ...device, batch: { type: 'string' } }, { min: 1, max: 1 });
  const batchSize = int(p, cmd, 'batch', 1, 100_000) ?? 1000;
  const dir = p.positionals[0]!;
  const dev = str(p, 'device');
  let log: EventLog;
  try {
    log = await EventLog.open(dir, dev === undefined ? {} : { device: dev });
  } catch (err) {
    if (!isFieldlogError(err, 'LOG_NOT_FOUND') && !isFieldlogError(err, 'DEVICE_UNKNOWN')) throw err;
    if (dev === undefined)
      throw fail('USAGE', `${cmd}: ${dir} is a new log: name its device with --device ID`);
    log = await EventLog.open(dir, { device: dev, create: true });
  }
  if (log.device === undefined) {
    await log.close();
    throw fail(
      'DEVICE_AMBIGUOUS',
      `${dir} holds several devices (${log.deviceNames().join(', ')}): name one with --device`,
    );
  }
  let lineNo = 0;
  let inFlight: Promise<unknown>[] = [];
  try {
    for await (const line of utf8Lines(input, signal)) {
      lineNo++;
      if (line.trim() === '') continue;
      let ev: ReturnType<typeof parseEventInput>;
      try {
        // I-JSON or nothing: what is hashed must be exactly what was given
        ev = parseEventInput(parseIJson(line, 'EVENT_INVALID'));
        // the log checks again; should it refuse, the error still names this line
        const at = lineNo;
        const appended = log.append(ev).catch((err: unknown) => {
          throw isFieldlogError(err) ? fail(err.code, `line ${at}: ${err.message}`) : err;
        });
        appended.catch(() => {}); // awaited below, with the rest of the batch
        inFlight.push(appended);
      } catch (err) {
        if (isFieldlogError(err)) throw fail(err.code, `line ${lineNo}: ${err.message}`);
        throw err;
      }
      if (inFlight.length >= batchSize) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    await out.line(JSON.stringify({ head: log.head() }));
    return 0;
  } finally {
    await Promise.allSettled(inFlight);
    await log.close();
  }
}

async function redact(argv: string[], out: Output): Promise<number> {
  const cmd = 'log redact';
  const p = parseFlags(
    cmd,
    argv,
    { ...device, seq: { type: 'string' }, reason: { type: 'string' }, actor: { type: 'string' } },
    { min: 1, max: 1 },
  );
  const seq = int(p, cmd, 'seq', 1);
  if (seq === undefined) throw fail('USAGE', `${cmd}: --seq is required`);
  const reason = str(p, 'reason');
  if (reason === undefined) throw fail('USAGE', `${cmd}: --reason is required`);
  const actor = str(p, 'actor');
  if (actor === undefined) throw fail('USAGE', `${cmd}: --actor is required (operator:NAME)`);
  const dir = p.positionals[0]!;
  const dev = str(p, 'device');
  const log = await EventLog.open(dir, dev === undefined ? {} : { device: dev });
  try {
    const env = await log.redact(seq, reason, actor);
    await out.line(
      JSON.stringify({ redacted: seq, event: { seq: env.seq, hash: env.hash }, head: log.head() }),
    );
    return 0;
  } finally {
    await log.close();
  }
}

export async function runLog(
  argv: string[],
  out: Output,
  input: NodeJS.ReadableStream,
  signal: AbortSignal,
): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'verify':
      return verify(rest, out);
    case 'cat':
      return cat(rest, out);
    case 'state':
      return state(rest, out);
    case 'stats':
      return stats(rest, out);
    case 'append':
      return append(rest, out, input, signal);
    case 'redact':
      return redact(rest, out);
    default:
      throw fail(
        'USAGE',
        sub === undefined
          ? 'log: which command? verify, cat, state, stats, append or redact'
          : `log: unknown command "${sub}"`,
      );
  }
}
