// Command-line parsing on node:util's parseArgs. Each command declares ONE table of its
// flags (type, value placeholder, description, default, alternatives); the same table
// builds parseArgs' options, checks required and exclusive flags, supplies defaults and
// prints the command's usage, so the usage cannot drift from what is accepted. Every
// mistake becomes one line that names the flag (USAGE, exit code 2).
import { parseArgs } from 'node:util';
import { fail } from '../errors.js';
import { parseTimeQuery } from '../log/time-query.js';

export interface FlagDef {
  type: 'string' | 'boolean';
  /** Placeholder of a string flag's value in the usage: DIR, N, URL. */
  value?: string;
  /** One line for the usage and the README. */
  help: string;
  /** The value used when the flag is absent (str() and int() return it). */
  default?: string;
  /** A required flag; in a group, one of the group is required. */
  required?: boolean;
  /** Flags sharing a group are alternatives: at most one of them may be given. */
  group?: string;
}

export type FlagTable = Record<string, FlagDef>;

export interface CommandSpec {
  /** As typed after `fieldlog`: `log cat`, `hub export`. */
  name: string;
  /** Positional arguments in the synopsis: `DIR`, `line|nmea|firmata`. */
  args?: string;
  positionals: { min: number; max: number };
  /** What the command does, one or two sentences. */
  summary: string;
  flags: FlagTable;
  /** Lines printed after the flags. */
  notes?: string[];
}

export interface Parsed {
  spec: CommandSpec;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Thrown by parseFlags when the user asks for `--help`/`-h`; the CLI prints `text` and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
  }
}

const HELP: FlagDef = { type: 'boolean', help: 'print this usage and exit' };

/** `--help` or `-h` anywhere before a `--` terminator. */
export function wantsHelp(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/**
 * Parse `argv` by the table. With `check: false` the required and alternative flags are
 * not checked yet (a config file may supply them: see checkFlags).
 */
export function parseFlags(spec: CommandSpec, argv: string[], opts: { check?: boolean } = {}): Parsed {
  const cmd = spec.name;
  if (wantsHelp(argv)) throw new HelpRequested(usage(spec));
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, def] of Object.entries(spec.flags)) options[name] = { type: def.type };
  let raw: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    raw = parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as typeof raw;
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0] ?? '';
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    if (unknown) throw fail('USAGE', `${cmd}: unknown flag ${unknown[1]} (see fieldlog ${cmd} --help)`);
    const missing = /Option '([^']+?)(?: <value>)?' argument missing/.exec(msg);
    if (missing) throw fail('USAGE', `${cmd}: flag ${missing[1]?.replace(/^-\w, /, '')} needs a value`);
    const ambiguous = /Option '([^']+?)(?: <value>)?' argument is ambiguous/.exec(msg);
    if (ambiguous)
      throw fail(
        'USAGE',
        `${cmd}: flag ${ambiguous[1]} needs a value (a value starting with - goes as ${ambiguous[1]}=-…)`,
      );
    throw fail('USAGE', `${cmd}: ${msg}`);
  }
  const parsed: Parsed = { spec, values: raw.values, positionals: raw.positionals };
  const n = parsed.positionals.length;
  if (n < spec.positionals.min)
    throw fail('USAGE', `${cmd}: missing argument ${spec.args ?? ''} (see fieldlog ${cmd} --help)`);
  if (n > spec.positionals.max)
    throw fail('USAGE', `${cmd}: unexpected argument "${parsed.positionals[spec.positionals.max]}"`);
  if (opts.check !== false) checkFlags(spec, parsed);
  return parsed;
}

/** Empty values, required flags and alternatives, from the table alone. */
export function checkFlags(spec: CommandSpec, p: Parsed): void {
  const cmd = spec.name;
  const groups = new Map<string, string[]>();
  for (const [name, def] of Object.entries(spec.flags)) {
    const v = p.values[name];
    if (v === '') throw fail('USAGE', `${cmd}: --${name} needs a value, not an empty one`);
    if (def.group === undefined) {
      if (def.required && v === undefined)
        throw fail('USAGE', `${cmd}: --${name}${def.value ? ` ${def.value}` : ''} is required`);
      continue;
    }
    groups.set(def.group, [...(groups.get(def.group) ?? []), name]);
  }
  for (const names of groups.values()) {
    const given = names.filter((n) => p.values[n] !== undefined);
    const alternatives = names.map((n) => `--${n}`).join(' or ');
    if (given.length > 1) throw fail('USAGE', `${cmd}: give ${alternatives}, not both`);
    if (given.length === 0 && names.some((n) => spec.flags[n]?.required)) {
      const withValues = names.map((n) => `--${n}${spec.flags[n]?.value ? ` ${spec.flags[n]?.value}` : ''}`);
      throw fail('USAGE', `${cmd}: give ${withValues.join(' or ')}`);
    }
  }
}

/** A string flag, or its default from the table, or undefined. */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : p.spec.flags[name]?.default;
}

/** Whether the user gave the flag (its default does not count). */
export function given(p: Parsed, name: string): boolean {
  return p.values[name] !== undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** An integer flag within [min, max] (or its default), or undefined when absent. */
export function int(p: Parsed, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw fail('USAGE', `${p.spec.name}: --${name} must be a whole number from ${min} to ${max}, not "${v}"`);
  }
  return Number(v);
}

/** A time flag: RFC 3339 with its offset, or a date (midnight UTC); ms since the epoch. */
export function time(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const ms = parseTimeQuery(v);
  if (ms === undefined) {
    throw fail(
      'USAGE',
      `${p.spec.name}: --${name} must be an RFC 3339 time with its offset, like 2026-11-24T10:00:00Z, or a date like 2026-11-24, not "${v}"`,
    );
  }
  return ms;
}

/** Refuses a range whose start is after its end (`--from-seq 5 --to-seq 2`, `--since` > `--until`). */
export function ordered(
  p: Parsed,
  lo: string,
  hi: string,
  a: number | undefined,
  b: number | undefined,
): void {
  if (a !== undefined && b !== undefined && a > b)
    throw fail(
      'USAGE',
      `${p.spec.name}: --${lo} ${str(p, lo)} is after --${hi} ${str(p, hi)}: nothing can match`,
    );
}

function flagText(name: string, def: FlagDef): string {
  return `--${name}${def.type === 'string' ? ` ${def.value ?? 'VALUE'}` : ''}`;
}

/** `fieldlog log cat DIR [--device ID] …`, alternatives as `[--a | --b]` or `(--a | --b)` when required. */
export function synopsis(spec: CommandSpec, width = 100): string {
  const parts: string[] = [];
  const done = new Set<string>();
  for (const [name, def] of Object.entries(spec.flags)) {
    if (done.has(name)) continue;
    if (def.group === undefined) {
      parts.push(def.required ? flagText(name, def) : `[${flagText(name, def)}]`);
      continue;
    }
    const members = Object.entries(spec.flags).filter(([, d]) => d.group === def.group);
    for (const [n] of members) done.add(n);
    const text = members.map(([n, d]) => flagText(n, d)).join(' | ');
    parts.push(members.some(([, d]) => d.required) ? `(${text})` : `[${text}]`);
  }
  const head = `fieldlog ${spec.name}${spec.args ? ` ${spec.args}` : ''}`;
  const indent = ' '.repeat(`fieldlog ${spec.name} `.length);
  const lines = [head];
  for (const part of parts) {
    const last = lines.length - 1;
    if (lines[last]!.length + 1 + part.length > width && lines[last]!.trim() !== '')
      lines.push(indent + part);
    else lines[last] = `${lines[last]} ${part}`;
  }
  return lines.join('\n');
}

/** Breaks text into lines of at most `width` characters, the later ones indented. */
function wrap(text: string, width: number, indent = ''): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join('\n');
}

/** The full usage of one command: synopsis, summary, one line per flag (with `-h, --help`). */
export function usage(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, def]) => {
    const extra = def.default !== undefined ? ` (default: ${def.default})` : '';
    return [flagText(name, def), `${def.help}${extra}`] as const;
  });
  rows.push(['-h, --help', HELP.help]);
  const w = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    `usage: ${synopsis(spec)}`,
    '',
    wrap(spec.summary, 92),
    '',
    ...rows.map(([l, r]) => wrap(`  ${l.padEnd(w)}${r}`, 100, ' '.repeat(w + 2))),
    ...(spec.notes && spec.notes.length > 0 ? ['', ...spec.notes.map((n) => wrap(n, 92))] : []),
  ].join('\n');
}
