// What a hub (or the demo's hub) says of the batches its ingest refuses: every refusal is
// counted (/devices, /metrics), and said once per device and reason, so that a device or an
// intruder repeating it cannot flood the output.
import type { EventEmitter } from 'node:events';

/** Says each (device, reason) refusal once, as `TIME LABEL DEVICE: DETAIL`; only `reasons` when given. */
export function sayRefusals(
  ingest: EventEmitter,
  say: (line: string) => void,
  opts: { label: string; reasons?: ReadonlySet<string> },
): void {
  const said = new Set<string>();
  ingest.on('rejected', (r: { device: string; reason: string; detail: string }) => {
    const key = `${r.device} ${r.reason}`;
    if ((opts.reasons && !opts.reasons.has(r.reason)) || said.has(key) || said.size > 10_000) return;
    said.add(key);
    say(`${new Date().toISOString()} ${opts.label} ${r.device}: ${r.detail.slice(0, 300)}`);
  });
}
