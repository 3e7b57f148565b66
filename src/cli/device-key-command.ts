// `fieldlog device key show|rotate`: the device's public key and fingerprint for enrolment at
// the hub, and a key rotation recorded in the (stopped) device's log, signed by the old key.
import { readConfigFile, resolveDeviceConfig } from '../device/config.js';
import { keyPath, rotateKey } from '../device/identity.js';
import { fail } from '../errors.js';
import { EventLog } from '../log/event-log.js';
import { type Identity, loadIdentity } from '../log/signing.js';
import { type CommandSpec, flag, HelpRequested, parseFlags, str, usage } from './args.js';
import type { Output } from './output.js';

const where = {
  data: { type: 'string', value: 'DIR', help: "the device's data folder (its key is DIR/device.key)" },
  config: {
    type: 'string',
    value: 'FILE',
    help: "the device's config file: its identity.key names the key file, its id the device",
  },
} as const;

export const DEVICE_KEY_SHOW: CommandSpec = {
  name: 'device key show',
  positionals: { min: 0, max: 0 },
  summary:
    "Prints the device's public key and its fingerprint, for enrolment at the hub (--keys FILE). Reads only the key file: it works while the device runs.",
  flags: {
    ...where,
    json: { type: 'boolean', help: 'print one JSON object: {device, alg, publicKey, fingerprint, keyFile}' },
  },
};

export const DEVICE_KEY_ROTATE: CommandSpec = {
  name: 'device key rotate',
  positionals: { min: 0, max: 0 },
  summary:
    'Switches the stopped device to a new key: DeviceKeyRotated, signed by the old key, is recorded in its log, then the new key replaces the old key file. The hub follows the rotation; nothing needs enrolling again.',
  flags: {
    data: { ...where.data, required: true },
    config: where.config,
    json: {
      type: 'boolean',
      help: 'print one JSON object: {device, alg, publicKey, fingerprint, keyFile, seq}',
    },
  },
};

function configured(file: string | undefined): { id?: string; key?: string } {
  if (file === undefined) return {};
  const c = resolveDeviceConfig(readConfigFile(file), {}, file);
  return c.identity === undefined ? { id: c.id } : { id: c.id, key: c.identity.key };
}

async function print(
  out: Output,
  json: boolean,
  o: { device: string | undefined; id: Identity; keyFile: string; seq?: number },
): Promise<void> {
  if (json) {
    await out.line(
      JSON.stringify({
        device: o.device ?? null,
        alg: 'ed25519',
        publicKey: o.id.publicKey,
        fingerprint: o.id.fingerprint,
        keyFile: o.keyFile,
        ...(o.seq === undefined ? {} : { seq: o.seq }),
      }),
    );
    return;
  }
  await out.line(`public key   ${o.id.publicKey}`);
  await out.line(`fingerprint  ${o.id.fingerprint}`);
  await out.line(`key file     ${o.keyFile}`);
  if (o.seq !== undefined) await out.line(`recorded     DeviceKeyRotated at seq ${o.seq}`);
  if (o.device !== undefined)
    await out.line(`keys file    ${JSON.stringify({ [o.device]: o.id.publicKey })}`);
}

async function show(argv: string[], out: Output): Promise<number> {
  const p = parseFlags(DEVICE_KEY_SHOW, argv);
  const data = str(p, 'data');
  const cfg = configured(str(p, 'config'));
  if (data === undefined && cfg.key === undefined)
    throw fail('USAGE', 'device key show: give --data DIR, or --config FILE with identity.key');
  const path = keyPath(data, cfg.key);
  await print(out, flag(p, 'json'), { device: cfg.id, id: loadIdentity(path), keyFile: path });
  return 0;
}

async function rotate(argv: string[], out: Output): Promise<number> {
  const p = parseFlags(DEVICE_KEY_ROTATE, argv);
  const data = str(p, 'data')!;
  const cfg = configured(str(p, 'config'));
  const path = keyPath(data, cfg.key);
  // the log's lock keeps a running device out: its key changes only while it is stopped
  const log = await EventLog.open(data, {});
  try {
    if (log.device === undefined)
      throw fail(
        'DEVICE_AMBIGUOUS',
        `${data} is not one device's log (it holds: ${log.deviceNames().join(', ') || 'none'})`,
      );
    const id = await rotateKey(log, path);
    await print(out, flag(p, 'json'), { device: log.device, id, keyFile: path, seq: log.head().seq });
    return 0;
  } finally {
    await log.close();
  }
}

export async function runDeviceKey(argv: string[], out: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'show':
      return show(rest, out);
    case 'rotate':
      return rotate(rest, out);
    case '--help':
    case '-h':
    case undefined:
      throw new HelpRequested(`${usage(DEVICE_KEY_SHOW)}\n\n${usage(DEVICE_KEY_ROTATE)}`);
    default:
      throw fail('USAGE', `device key: unknown command "${sub}" (show or rotate)`);
  }
}
