// `fieldlog hub verify`: check every chain a hub store holds (or one device's), as
// `fieldlog log verify` checks a log: exit 0 when every chain verifies, 1 when one does not.
import { fail } from '../errors.js';
import { type CommandSpec, flag, parseFlags, str } from './args.js';
import { openHubStore, storeFlags } from './hub-store.js';
import { describeReport } from './log-commands.js';
import type { Output } from './output.js';

export const HUB_VERIFY: CommandSpec = {
  name: 'hub verify',
  positionals: { min: 0, max: 0 },
  summary:
    "Checks every device's chain in a hub store (digest, hash, link to its predecessor, redactions), or one device's. Exit code 0 when every chain verifies, 1 when not.",
  flags: {
    ...storeFlags("the hub's", false),
    device: { type: 'string', value: 'ID', help: "check only this device's chain" },
    json: {
      type: 'boolean',
      help: 'print one JSON object per device: {ok, events, head, errors, device}',
    },
  },
};

export async function runHubVerify(argv: string[], out: Output): Promise<number> {
  const cmd = HUB_VERIFY.name;
  const p = parseFlags(HUB_VERIFY, argv);
  const device = str(p, 'device');
  const store = await openHubStore(cmd, p, { create: false });
  try {
    const reports = await store.verify(device);
    if (device !== undefined && reports.length === 0)
      throw fail('DEVICE_UNKNOWN', `${store.location} holds no events of device ${device}`);
    let ok = true;
    for (const { device: d, ...r } of reports) {
      ok &&= r.ok;
      if (flag(p, 'json')) await out.line(JSON.stringify({ ...r, device: d }));
      else for (const l of describeReport(d, r)) await out.line(l);
    }
    if (reports.length === 0 && !flag(p, 'json')) await out.line(`${store.location}: empty store`);
    return ok ? 0 : 1;
  } finally {
    await store.close();
  }
}
