// Which fleet store a hub command uses: `--data DIR` (LevelDB, the default) or `--store`
// (a postgres:// URL, or a folder); and the hub's config file, whose keys are its flags.

import { readConfigFile } from '../device/config.js';
import { fail } from '../errors.js';
import type { FleetStore } from '../hub/fleet-store.js';
import { openLevelFleetStore } from '../hub/leveldb-fleet-store.js';
import { type CommandSpec, checkFlags, type FlagTable, type Parsed, parseFlags, str } from './args.js';

/** The two ways to name a store; give exactly one. */
export function storeFlags(what: string, create: boolean): FlagTable {
  return {
    data: {
      type: 'string',
      value: 'DIR',
      group: 'store',
      required: true,
      help: `${what} LevelDB folder${create ? ' (created if new)' : ''}`,
    },
    store: {
      type: 'string',
      value: 'URL|DIR',
      group: 'store',
      required: true,
      help: `${what} store: a postgres:// (or postgresql://) URL, or a LevelDB folder as --data`,
    },
  };
}

const PG_URL = /^postgres(ql)?:\/\//i;

/** Whether `--store` names a PostgreSQL database (a store several hubs can share). */
export function isPgUrl(store: string | undefined): boolean {
  return store !== undefined && PG_URL.test(store);
}

/** What the PostgreSQL store module offers (src/hub/pg/pg-fleet-store.ts). */
interface PgStoreModule {
  openPgFleetStore(url: string, opts: { create: boolean }): Promise<FleetStore>;
}

/** The store the flags name, opened (and with `create`, made). */
export async function openHubStore(cmd: string, p: Parsed, opts: { create: boolean }): Promise<FleetStore> {
  const data = str(p, 'data');
  const store = str(p, 'store');
  if (data !== undefined) return openLevelFleetStore(data, opts);
  if (store === undefined) throw fail('USAGE', `${cmd}: give --data DIR or --store URL`);
  if (PG_URL.test(store)) {
    // loaded only when asked for: a LevelDB hub needs neither the module nor node-postgres
    const module = '../hub/pg/pg-fleet-store.js';
    let pg: PgStoreModule;
    try {
      pg = (await import(module)) as PgStoreModule;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ERR_MODULE_NOT_FOUND' && e.code !== 'MODULE_NOT_FOUND') throw err;
      throw fail(
        'USAGE',
        `${cmd}: --store ${redacted(store)}: this fieldlog cannot load its PostgreSQL store (${e.message.split('\n')[0]})`,
        err,
      );
    }
    return pg.openPgFleetStore(store, { create: opts.create });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(store))
    throw fail('USAGE', `${cmd}: --store must be a postgres:// URL or a folder, not ${redacted(store)}`);
  return openLevelFleetStore(store, opts);
}

/** A URL as it may be shown: without its password. */
export function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** `httpHost` and `http-host` name the flag --http-host. */
function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Parse `argv` with the config file of `--config FILE` under it: the file's keys are the
 * command's long flags (`"store"`, `"httpHost"` or `"http-host"`), the flags win (a flag of
 * a group of alternatives overrides the whole group), and then the table's checks run.
 */
export function parseWithConfig(spec: CommandSpec, argv: string[]): Parsed {
  const p = parseFlags(spec, argv, { check: false });
  const file = str(p, 'config');
  if (file !== undefined) {
    const config = readConfigFile(file);
    if (typeof config !== 'object' || config === null || Array.isArray(config))
      throw fail('CONFIG_INVALID', `${file}: must be a JSON object`);
    const fromFile = new Map<string, string | boolean>();
    for (const [key, value] of Object.entries(config)) {
      const name = flagName(key);
      const def = spec.flags[name];
      if (def === undefined || name === 'config')
        throw fail('CONFIG_INVALID', `${file}: unknown key "${key}" (the keys are ${spec.name}'s flags)`);
      if (fromFile.has(name)) throw fail('CONFIG_INVALID', `${file}: "${key}" is given twice`);
      fromFile.set(name, configValue(file, key, def.type, value));
    }
    for (const [name, value] of fromFile) {
      if (p.values[name] !== undefined) continue;
      const group = spec.flags[name]!.group;
      const groupGiven =
        group !== undefined &&
        Object.entries(spec.flags).some(
          ([n, d]) => d.group === group && p.values[n] !== undefined && !fromFile.has(n),
        );
      if (groupGiven) continue;
      p.values[name] = value;
    }
  }
  checkFlags(spec, p);
  return p;
}

function configValue(file: string, key: string, type: 'string' | 'boolean', v: unknown): string | boolean {
  if (type === 'boolean') {
    if (typeof v !== 'boolean') throw fail('CONFIG_INVALID', `${file}: "${key}" must be true or false`);
    return v;
  }
  // ports and counts may be written as numbers
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v !== 'string' || v === '')
    throw fail('CONFIG_INVALID', `${file}: "${key}" must be a non-empty string`);
  return v;
}
