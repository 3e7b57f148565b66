// Command-line parsing on node:util's parseArgs, turning every mistake into one line
// that names the flag (USAGE, exit code 2).
import { parseArgs } from 'node:util';
import { fail } from '../errors.js';

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export function parseFlags(
  command: string,
  argv: string[],
  flags: FlagSpec,
  positionals: { min: number; max: number },
): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: true }) as Parsed;
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0] ?? '';
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    if (unknown) throw fail('USAGE', `${command}: unknown flag ${unknown[1]}`);
    const missing = /Option '([^']+?)(?: <value>)?' argument missing/.exec(msg);
    if (missing) throw fail('USAGE', `${command}: flag ${missing[1]?.replace(/^-\w, /, '')} needs a value`);
    throw fail('USAGE', `${command}: ${msg}`);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min) throw fail('USAGE', `${command}: missing argument (see fieldlog help)`);
  if (n > positionals.max)
    throw fail('USAGE', `${command}: unexpected argument "${parsed.positionals[positionals.max]}"`);
  return parsed;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** An integer flag within [min, max], or undefined when absent. */
export function int(
  p: Parsed,
  command: string,
  name: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw fail('USAGE', `${command}: --${name} must be a whole number from ${min} to ${max}, not "${v}"`);
  }
  return Number(v);
}

/** A time flag: RFC 3339 / ISO 8601, returned as ms since the epoch. */
export function time(p: Parsed, command: string, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  if (!/^\d{4}-\d\d-\d\d/.test(v) || !Number.isFinite(ms)) {
    throw fail('USAGE', `${command}: --${name} must be a time like 2026-11-24T10:00:00Z, not "${v}"`);
  }
  return ms;
}
