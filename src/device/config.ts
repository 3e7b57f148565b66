// Device configuration (the README's Configuration section): one schema for the `--config`
// file and the flags, which win. A bad key or value is named in one line (CONFIG_INVALID,
// exit code 2) before anything is opened or written.
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../errors.js';
import { parseIJson } from '../log/ijson.js';

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const SENSOR_RE = /^[a-z0-9_.]{1,32}$/;
const PIN_RE = /^(A\d{1,2}|\d{1,3})$/;

const pinSchema = z.strictObject({
  sensor: z.string().regex(SENSOR_RE, 'must match [a-z0-9_.]{1,32}'),
  pin: z.union([
    z.string().regex(PIN_RE, 'must be an analog pin like "A0"'),
    z.number().int().min(0).max(127),
  ]),
  unit: z
    .string()
    .regex(/^[A-Za-z%/°]{1,8}$/, 'must match [A-Za-z%/°]{1,8}')
    .optional(),
  scale: z.tuple([z.number(), z.number()]).optional(),
  /** Decimals to show the values with (display only); default: from the ADC step over `scale`. */
  precision: z.number().int().min(0).max(6).optional(),
});

const sourceSchema = z
  .strictObject({
    name: z.string().regex(NAME_RE, 'must match [A-Za-z0-9._-]{1,64}'),
    driver: z.enum(['line', 'nmea', 'firmata']),
    port: z.string().min(1),
    baud: z.number().int().min(50).max(4_000_000).optional(),
    /** line: ask the node for this sample period on connect ($FLC,RATE). */
    rateMs: z.number().int().min(1).max(3_600_000).optional(),
    /** line: ask the node to identify itself on connect ($FLC,ID). */
    identify: z.boolean().optional(),
    /** firmata: record each pin once per this many ms. */
    sampleMs: z.number().int().min(10).max(3_600_000).optional(),
    pins: z.array(pinSchema).min(1).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.driver === 'firmata' && !s.pins)
      ctx.addIssue({ code: 'custom', path: ['pins'], message: 'a firmata source needs pins' });
    if (s.driver !== 'firmata' && s.pins)
      ctx.addIssue({ code: 'custom', path: ['pins'], message: 'only firmata sources have pins' });
  });

const alarmSchema = z
  .strictObject({
    sensor: z.string().regex(SENSOR_RE, 'must match [a-z0-9_.]{1,32}'),
    above: z.number().finite().optional(),
    below: z.number().finite().optional(),
    /** How far back past the limit a value must go to clear the alarm. */
    hysteresis: z.number().finite().min(0).optional(),
  })
  .refine((a) => a.above !== undefined || a.below !== undefined, { message: 'an alarm needs above or below' })
  .refine((a) => a.above === undefined || a.below === undefined || a.below < a.above, {
    message: 'below must be less than above',
  });

const mqttSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/.+/, 'must be an mqtt://, mqtts://, ws:// or wss:// URL'),
  username: z.string().optional(),
  password: z.string().optional(),
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
});

const consoleSchema = z.strictObject({
  /** Recorded as operator:<name> on the console's actions until someone picks another. */
  operator: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/, 'must be a name of letters, digits, . _ - and spaces')
    .optional(),
  operators: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/))
    .max(50)
    .optional(),
  sparkStyle: z.enum(['blocks', 'ascii']).optional(),
  touch: z
    .strictObject({
      device: z.string().min(1),
      minX: z.number(),
      maxX: z.number(),
      minY: z.number(),
      maxY: z.number(),
      swapXY: z.boolean().optional(),
      invertX: z.boolean().optional(),
      invertY: z.boolean().optional(),
    })
    .optional(),
});

/**
 * Retention (README "Running for a year"): what is pruned from the device's log once the hub
 * has it. Absent: nothing is ever pruned.
 */
const retentionSchema = z.strictObject({
  /** Events younger than this stay (a duration: s, m, h, d); default 30d. */
  keep: z
    .string()
    .regex(/^\d+(\.\d+)?(s|m|h|d)$/, 'must be a duration like 30d, 12h, 90m or 45s')
    .optional(),
  /** Prune only what the hub acknowledged (default true); false: by age alone. */
  afterAck: z.boolean().optional(),
});

/** Where `/metrics` is served; off unless given (`--metrics PORT` wins). */
const metricsSchema = z.strictObject({
  port: z.number().int().min(0).max(65535),
  host: z.string().min(1).optional(),
});

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/** A size: a number of bytes, or a string like "2GB" (kB, MB, GB: 1000-based; KiB, MiB, GiB). */
export const sizeSchema = z.union([z.number().int().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|KiB|MiB|GiB)?\s*$/.exec(v);
  const bytes = m ? Math.round(Number(m[1]) * SIZE_UNITS[m[2] ?? '']!) : Number.NaN;
  if (!Number.isSafeInteger(bytes)) {
    ctx.addIssue({ code: 'custom', message: 'must be bytes or a size like "2GB", "500MB", "64MiB"' });
    return z.NEVER;
  }
  return bytes;
});

/** The disk budget's keys of `retention` (src/device/disk-budget.ts). */
const budgetKeys = {
  /** The log's folder may not grow past this (0 or absent: no limit). */
  maxBytes: sizeSchema.optional(),
  /** The filesystem keeps at least this much free. */
  minFreeBytes: sizeSchema.optional(),
  /** When pruning what the hub holds is not enough: purge old payloads, or stop recording readings. */
  policy: z.enum(['thin', 'stop']).optional(),
};

export const deviceConfigSchema = z
  .strictObject({
    id: z.string().regex(NAME_RE, 'must match [A-Za-z0-9._-]{1,64}'),
    fleet: z.string().regex(NAME_RE, 'must match [A-Za-z0-9._-]{1,64}').optional(),
    mqtt: mqttSchema.optional(),
    sources: z.array(sourceSchema).min(1, 'at least one source is needed'),
    alarms: z.array(alarmSchema).optional(),
    console: consoleSchema.optional(),
    metrics: metricsSchema.optional(),
    /** The device's private key file, instead of DATA/device.key (a read-only partition, a secure element's export). */
    identity: z.strictObject({ key: z.string().min(1) }).optional(),
    /**
     * "every-commit" (default): each group commit is fsynced before it counts as written.
     * "interval": the low-wear mode, one fsync at most every second (a power cut loses at most that).
     */
    durability: z.enum(['every-commit', 'interval']).optional(),
    retention: z.strictObject({ ...retentionSchema.shape, ...budgetKeys }).optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.sources.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'name'],
          message: `duplicate source name "${s.name}"`,
        });
      seen.add(s.name);
    });
  });

export type DeviceConfig = z.infer<typeof deviceConfigSchema>;
export type SourceConfig = DeviceConfig['sources'][number];
export type AlarmConfig = NonNullable<DeviceConfig['alarms']>[number];
export type PinConfig = NonNullable<SourceConfig['pins']>[number];

/** What the command line may set; it wins over the file. */
export interface DeviceFlags {
  id?: string;
  fleet?: string;
  mqtt?: string;
  driver?: string;
  port?: string;
  baud?: number;
  source?: string;
  metrics?: number;
  metricsHost?: string;
}

function path(p: PropertyKey[]): string {
  return p.reduce<string>(
    (acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)),
    '',
  );
}

/** One line naming the first bad key or value. */
export function describeConfigError(where: string, error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return `${where}: invalid`;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return `${where}: unknown key "${path([...issue.path, key])}"`;
  }
  const at = path(issue.path) || '(top level)';
  return `${where}: ${at}: ${issue.message}`;
}

export function readConfigFile(file: string): unknown {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw fail(
      'CONFIG_INVALID',
      `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  // I-JSON, as every JSON from outside: UTF-8, no duplicate keys, nothing JSON.parse would change
  if (!isUtf8(bytes)) throw fail('CONFIG_INVALID', `${file}: not UTF-8`);
  try {
    return parseIJson(bytes.toString(), 'CONFIG_INVALID');
  } catch (err) {
    throw fail('CONFIG_INVALID', `${file}: ${(err as Error).message}`);
  }
}

/** Merge the file (if any) and the flags, flags winning, and validate the result. */
export function resolveDeviceConfig(
  file: unknown,
  flags: DeviceFlags,
  where = 'configuration',
): DeviceConfig {
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) {
    throw fail('CONFIG_INVALID', `${where}: must be a JSON object`);
  }
  const merged: Record<string, unknown> = { ...((file as Record<string, unknown>) ?? {}) };
  if (flags.id !== undefined) merged.id = flags.id;
  if (flags.fleet !== undefined) merged.fleet = flags.fleet;
  if (flags.mqtt !== undefined) merged.mqtt = { ...((merged.mqtt as object) ?? {}), url: flags.mqtt };
  if (flags.metrics !== undefined || flags.metricsHost !== undefined) {
    const metrics: Record<string, unknown> = { ...((merged.metrics as object) ?? {}) };
    if (flags.metrics !== undefined) metrics.port = flags.metrics;
    if (flags.metricsHost !== undefined) metrics.host = flags.metricsHost;
    if (metrics.port === undefined) throw fail('CONFIG_INVALID', '--metrics-host needs --metrics PORT');
    merged.metrics = metrics;
  }
  if (flags.driver !== undefined || flags.port !== undefined || flags.baud !== undefined) {
    if (flags.driver === undefined || flags.port === undefined) {
      throw fail(
        'CONFIG_INVALID',
        `--${flags.driver === undefined ? 'driver' : 'port'} is needed with --${flags.driver === undefined ? 'port' : 'driver'}`,
      );
    }
    const name = flags.source ?? flags.driver;
    const sources = Array.isArray(merged.sources) ? [...(merged.sources as Record<string, unknown>[])] : [];
    const i = sources.findIndex((s) => s?.name === name);
    const fromFile = i >= 0 ? sources[i] : {};
    const src: Record<string, unknown> = { ...fromFile, name, driver: flags.driver, port: flags.port };
    if (flags.baud !== undefined) src.baud = flags.baud;
    if (i >= 0) sources[i] = src;
    else sources.push(src);
    merged.sources = sources;
  }
  const r = deviceConfigSchema.safeParse(merged);
  if (!r.success) throw fail('CONFIG_INVALID', describeConfigError(where, r.error));
  return r.data;
}
