// `fieldlog log verify|cat|state|stats|append|redact`: the log, from the shell.
import { join } from 'node:path';
import { z } from 'zod';
import { readConfigFile } from '../device/config.js';
import { attachIdentity, KEY_FILE } from '../device/identity.js';
import { fail, isFieldlogError } from '../errors.js';
import { deviceState, isBoot } from '../log/device-state.js';
import { isActor, parseEventInput } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { PUBLIC_KEY_RE } from '../log/events.js';
import { parseIJson } from '../log/ijson.js';
import { Projector } from '../log/projection.js';
import type { VerifyReport } from '../log/verify.js';
import {
  type CommandSpec,
  type FlagDef,
  flag,
  HelpRequested,
  int,
  ordered,
  parseFlags,
  str,
  synopsis,
  time,
} from './args.js';
import { utf8Lines } from './ndjson-lines.js';
import type { Output } from './output.js';

const device: Record<'device', FlagDef> = {
  device: {
    type: 'string',
    value: 'ID',
    help: 'the device whose stream to use; needed when DIR holds several (a hub store)',
  },
};

export const LOG_VERIFY: CommandSpec = {
  name: 'log verify',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary:
    'Checks every event of the log in DIR (digest, hash, link to its predecessor, redactions, signatures and the chain of device keys). Exit code 0 when every stream verifies, 1 when not.',
  flags: {
    ...device,
    json: {
      type: 'boolean',
      help: 'print one JSON object per device: {ok, events, head, errors, signatures, anchor, device}',
    },
    keys: {
      type: 'string',
      value: 'FILE',
      help: 'a JSON object device → public key (as the hub takes): each named device must hold that key',
    },
  },
};

export const LOG_CAT: CommandSpec = {
  name: 'log cat',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary: 'Prints the events of the log in DIR as NDJSON envelopes, in seq order.',
  flags: {
    ...device,
    'from-seq': { type: 'string', value: 'N', help: 'first seq to print (default: 1)' },
    'to-seq': { type: 'string', value: 'N', help: 'last seq to print (default: the head)' },
    since: {
      type: 'string',
      value: 'T',
      help: 'only events recorded at or after this time (RFC 3339, e.g. 2026-11-24T10:00:00Z)',
    },
    until: { type: 'string', value: 'T', help: 'only events recorded at or before this time' },
  },
};

export const LOG_STATE: CommandSpec = {
  name: 'log state',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary: 'Prints the device state projection (sensors, alarms, sources) as of the head, a time or a seq.',
  flags: {
    ...device,
    at: { type: 'string', value: 'TIME', group: 'as-of', help: 'the state as of this time (RFC 3339)' },
    'at-seq': {
      type: 'string',
      value: 'N',
      group: 'as-of',
      help: 'the state after event N (0 to the head)',
    },
  },
};

export const LOG_STATS: CommandSpec = {
  name: 'log stats',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary: 'Prints counts per event type, the time span, boots, redactions and bytes on disk.',
  flags: { ...device, json: { type: 'boolean', help: 'print one JSON object per device' } },
};

export const LOG_APPEND: CommandSpec = {
  name: 'log append',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary:
    'Imports events from stdin, one {type, data, meta?} JSON object per line, and prints the new head. A bad line stops it (the lines before it stay); no events, nothing written.',
  flags: {
    device: {
      type: 'string',
      value: 'ID',
      help: 'the device to append to; required for a new log (DIR is created) and for a store of several',
    },
    batch: { type: 'string', value: 'N', default: '1000', help: 'events appended per batch (1 to 100000)' },
  },
  notes: ['example: fieldlog log append ./data --device pi-01 < events.ndjson'],
};

export const LOG_REDACT: CommandSpec = {
  name: 'log redact',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary:
    "Purges one event's payload through a recorded EventRedacted (with reason and actor); the chain still verifies.",
  flags: {
    seq: { type: 'string', value: 'N', required: true, help: 'the seq of the event to redact' },
    reason: { type: 'string', value: 'TEXT', required: true, help: 'why, recorded in the EventRedacted' },
    actor: {
      type: 'string',
      value: 'operator:NAME',
      required: true,
      help: 'who: operator:NAME, sensor:NAME or system',
    },
    ...device,
  },
};

export const LOG_COMMANDS = [LOG_VERIFY, LOG_CAT, LOG_STATE, LOG_STATS, LOG_APPEND, LOG_REDACT];

/** `fieldlog log --help`: the synopsis of each log command. */
export const LOG_USAGE = `usage:
${LOG_COMMANDS.map((c) => synopsis(c)).join('\n')}

fieldlog log <command> --help prints that command's flags.`;

/**
 * A device's own log (one stream) with its key file beside it (DIR/device.key) is written to
 * signed, as the device would: the operator's events are then the device's. Without the file
 * the events are unsigned, and a verify reports them as the log's unsigned tail.
 */
async function signWithDeviceKey(log: EventLog, dir: string): Promise<void> {
  if (log.device === undefined || log.deviceNames().length !== 1) return;
  // stdout carries the command's answer (JSON): the warning goes beside it
  await attachIdentity(log, join(dir, KEY_FILE), {
    create: false,
    warn: (line) => process.stderr.write(`fieldlog: warning: ${line}\n`),
  });
}

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

export function describeReport(device: string, r: VerifyReport): string[] {
  const lines = [
    r.ok
      ? `${device}: ok, ${r.events} events, head ${r.head.seq} ${r.head.hash}`
      : `${device}: FAILED, ${r.errors.length} problem(s) in ${r.events} events`,
  ];
  for (const e of r.errors.slice(0, 50))
    lines.push(`  seq ${e.seq}: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`);
  if (r.errors.length > 50) lines.push(`  ... and ${r.errors.length - 50} more`);
  // a pruned log (README "Retention"): its chain starts after the anchor, which is not a gap
  if (r.anchor)
    lines.push(
      `  starts at seq ${r.anchor.seq + 1}, anchored by hash ${r.anchor.hash} (seq ${r.anchor.seq}, the last pruned event)`,
    );
  const s = r.signatures;
  if (s === null) lines.push('  unsigned (no device key)');
  else if (s !== undefined)
    lines.push(
      `  signed by ${s.fingerprint ?? 'no key'} (${s.keys} key${s.keys === 1 ? '' : 's'}), last signature at seq ${s.lastSigned}${s.unsignedTail ? `, unsigned ${s.unsignedTail.from}..${s.unsignedTail.to}` : ''}`,
    );
  return lines;
}

const keysFileSchema = z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), z.string().regex(PUBLIC_KEY_RE));

/** A keys file: `{"<device>": "<public key>"}`, one line of error (exit 2) otherwise. */
function readKeysFile(file: string): Record<string, string> {
  const raw = readConfigFile(file);
  const r = keysFileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.map(String).join('.') ?? '';
    throw fail(
      'CONFIG_INVALID',
      `${file}: ${at ? `${at}: ` : ''}must map device ids to public keys (44 characters of base64)`,
    );
  }
  return r.data;
}

async function verify(argv: string[], out: Output): Promise<number> {
  const p = parseFlags(LOG_VERIFY, argv);
  const dir = p.positionals[0]!;
  const keysFile = str(p, 'keys');
  const keys = keysFile === undefined ? {} : readKeysFile(keysFile);
  return withLog(dir, str(p, 'device'), async (log) => {
    const devices = str(p, 'device') ? [str(p, 'device')!] : log.deviceNames();
    let ok = true;
    for (const d of devices) {
      const expectKey = Object.hasOwn(keys, d) ? keys[d] : undefined;
      const r = await log.verify(d, expectKey === undefined ? {} : { expectKey });
      ok &&= r.ok;
      if (flag(p, 'json')) await out.line(JSON.stringify({ ...r, device: d }));
      else for (const l of describeReport(d, r)) await out.line(l);
    }
    if (devices.length === 0 && !flag(p, 'json')) await out.line(`${dir}: empty log`);
    return ok ? 0 : 1;
  });
}

async function cat(argv: string[], out: Output): Promise<number> {
  const p = parseFlags(LOG_CAT, argv);
  const fromSeq = int(p, 'from-seq', 1);
  const toSeq = int(p, 'to-seq', 1);
  const since = time(p, 'since');
  const until = time(p, 'until');
  ordered(p, 'from-seq', 'to-seq', fromSeq, toSeq);
  ordered(p, 'since', 'until', since, until);
  return withLog(p.positionals[0]!, str(p, 'device'), async (log) => {
    const anchor = log.anchor(str(p, 'device'));
    // asked for pruned events: said, once, beside the output (stdout stays NDJSON)
    if (anchor !== null && fromSeq !== undefined && fromSeq <= anchor.seq)
      prunedNote(anchor, `printing from seq ${anchor.seq + 1}`);
    // the log's one read: the time index bounds the seqs, the times are checked exactly at the ends
    for await (const chunk of log.read({ device: str(p, 'device'), fromSeq, toSeq, since, until }))
      for (const { event } of chunk) await out.line(JSON.stringify(event));
    return 0;
  });
}

async function state(argv: string[], out: Output): Promise<number> {
  const cmd = LOG_STATE.name;
  const p = parseFlags(LOG_STATE, argv);
  const at = time(p, 'at');
  const atSeq = int(p, 'at-seq', 0);
  return withLog(p.positionals[0]!, str(p, 'device'), async (log) => {
    const dev = str(p, 'device');
    const projector = new Projector(log, deviceState, dev === undefined ? {} : { device: dev });
    const head = log.head(dev).seq;
    // beyond the head there is no state to show: the head's would answer another question
    if (atSeq !== undefined && atSeq > head)
      throw fail(
        'USAGE',
        `${cmd}: --at-seq ${atSeq} is beyond the head of ${dev ?? log.device} (seq ${head})`,
      );
    const r = await projector.stateAt(
      at !== undefined ? { time: at } : atSeq !== undefined ? { seq: atSeq } : {},
    );
    const anchor = log.anchor(dev);
    if (
      anchor !== null &&
      ((atSeq !== undefined && atSeq < anchor.seq) || (at !== undefined && r.seq === anchor.seq))
    )
      prunedNote(anchor, `the state shown is as of seq ${anchor.seq}, the oldest kept`);
    await out.line(JSON.stringify({ device: dev ?? log.device, asOfSeq: r.seq, state: r.state }, null, 2));
    return 0;
  });
}

/** Bytes per stored event. */
function st0(events: number, bytes: number): number {
  return events ? Math.round(bytes / events) : 0;
}

/** One line on stderr: the user asked for events that were pruned. */
function prunedNote(anchor: { seq: number; hash: string }, what: string): void {
  process.stderr.write(
    `fieldlog: note: events 1..${anchor.seq} were pruned (anchor ${anchor.hash}); ${what}\n`,
  );
}

async function stats(argv: string[], out: Output): Promise<number> {
  const p = parseFlags(LOG_STATS, argv);
  return withLog(p.positionals[0]!, str(p, 'device'), async (log) => {
    const devices = str(p, 'device') ? [str(p, 'device')!] : log.deviceNames();
    const bytes = await log.approximateSize();
    for (const d of devices) {
      const types: Record<string, number> = {};
      let boots = 0;
      let first: number | null = null;
      let last: number | null = null;
      let redacted = 0;
      for await (const e of log.foldEvents({ device: d })) {
        types[e.type] = (types[e.type] ?? 0) + 1;
        if (isBoot(e)) boots++;
        if (first === null) first = e.timeMs;
        last = e.timeMs;
        if (e.data === null) redacted++;
      }
      const head = log.head(d);
      const anchor = log.anchor(d);
      const st = {
        device: d,
        events: log.count(d),
        head,
        // a pruned stream: the events up to the anchor are gone (README "Retention")
        anchor,
        first: first === null ? null : new Date(first).toISOString(),
        last: last === null ? null : new Date(last).toISOString(),
        boots,
        redacted,
        types,
        ...(devices.length === 1 ? { bytesOnDisk: bytes, bytesPerEvent: st0(log.count(d), bytes) } : {}),
      };
      if (flag(p, 'json')) {
        await out.line(JSON.stringify(st));
        continue;
      }
      await out.line(`device   ${d}`);
      await out.line(`events   ${st.events}   head ${head.hash}`);
      if (anchor !== null) await out.line(`pruned   seqs 1..${anchor.seq}   anchor ${anchor.hash}`);
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
  const cmd = LOG_APPEND.name;
  const p = parseFlags(LOG_APPEND, argv);
  const batchSize = int(p, 'batch', 1, 100_000)!;
  const dir = p.positionals[0]!;
  const dev = str(p, 'device');
  // A new log (or a new device's stream in a store) is made only when its first event is
  // ready: empty input, or a bad first line, leaves nothing behind.
  let log: EventLog | null = null;
  try {
    log = await EventLog.open(dir, dev === undefined ? {} : { device: dev });
  } catch (err) {
    if (!isFieldlogError(err, 'LOG_NOT_FOUND') && !isFieldlogError(err, 'DEVICE_UNKNOWN')) throw err;
    if (dev === undefined)
      throw fail('USAGE', `${cmd}: ${dir} is a new log: name its device with --device ID`);
  }
  if (log && log.device === undefined) {
    await log.close();
    throw fail(
      'DEVICE_AMBIGUOUS',
      `${dir} holds several devices (${log.deviceNames().join(', ')}): name one with --device`,
    );
  }
  if (log) {
    try {
      await signWithDeviceKey(log, dir);
    } catch (err) {
      await log.close();
      throw err;
    }
  }
  const atLine = (lineNo: number, err: unknown) =>
    isFieldlogError(err) ? fail(err.code, `line ${lineNo}: ${err.message}`) : err;
  let lineNo = 0;
  let events = 0;
  let inFlight: Promise<unknown>[] = [];
  try {
    for await (const line of utf8Lines(input, signal)) {
      lineNo++;
      if (line.trim() === '') continue;
      let ev: ReturnType<typeof parseEventInput>;
      try {
        // I-JSON or nothing: what is hashed must be exactly what was given
        ev = parseEventInput(parseIJson(line, 'EVENT_INVALID'));
        // a redaction needs its checks (reason, actor, target) and purges a payload
        if (ev.type === 'EventRedacted')
          throw fail('EVENT_INVALID', 'an EventRedacted is recorded only with fieldlog log redact');
      } catch (err) {
        throw atLine(lineNo, err);
      }
      if (log === null) {
        log = await EventLog.open(dir, { device: dev!, create: true });
        await signWithDeviceKey(log, dir);
      }
      try {
        // the log checks again; should it refuse, the error still names this line
        const at = lineNo;
        const appended = log.append(ev).catch((err: unknown) => {
          throw atLine(at, err);
        });
        appended.catch(() => {}); // awaited below, with the rest of the batch
        inFlight.push(appended);
      } catch (err) {
        throw atLine(lineNo, err);
      }
      events++;
      if (inFlight.length >= batchSize) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    if (events === 0 || log === null)
      throw fail(
        'USAGE',
        `${cmd}: no events in the input (one {type, data, meta?} per line); nothing written`,
      );
    await out.line(JSON.stringify({ head: log.head() }));
    return 0;
  } finally {
    await Promise.allSettled(inFlight);
    await log?.close();
  }
}

async function redact(argv: string[], out: Output): Promise<number> {
  const p = parseFlags(LOG_REDACT, argv);
  const seq = int(p, 'seq', 1)!;
  const reason = str(p, 'reason')!;
  const actor = str(p, 'actor')!;
  if (!isActor(actor))
    throw fail(
      'USAGE',
      `${LOG_REDACT.name}: --actor "${actor}" must be operator:NAME, sensor:NAME or system`,
    );
  const dir = p.positionals[0]!;
  const dev = str(p, 'device');
  const log = await EventLog.open(dir, dev === undefined ? {} : { device: dev });
  try {
    await signWithDeviceKey(log, dir);
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
    case '--help':
    case '-h':
    case 'help':
      throw new HelpRequested(LOG_USAGE);
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
