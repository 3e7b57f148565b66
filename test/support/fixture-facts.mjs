// What a committed on-disk fixture must read back as, computed from an open log: the
// generator (make-fixtures.mjs) records these facts beside the fixture when it is made, and
// test/log/fixtures.int.test.ts computes them again from the committed bytes and compares.
// Plain JavaScript so that both the generator (run by node on dist/) and vitest import it.
import { createHash } from 'node:crypto';

const sha = (lines) => createHash('sha256').update(lines.join('\n')).digest('hex');

/** Facts of every stream of `log` (and the fleet order when `fleet`). */
export async function fixtureFacts(log, fleet) {
  const devices = [];
  for (const device of log.deviceNames()) {
    const json = [];
    for await (const chunk of log.eventsJson({ device })) for (const e of chunk) json.push(e.json);
    const read = [];
    const purged = [];
    for await (const chunk of log.read({ device })) {
      for (const { event } of chunk) {
        read.push(JSON.stringify(event));
        if (event.data === null) purged.push(event.seq);
      }
    }
    const report = await log.verify(device);
    const first = await log.get(1, device);
    const last = await log.get(log.count(device), device);
    let inFirstSecond = 0;
    const until = Date.parse(first.time) + 1000;
    for await (const chunk of log.read({ device, until })) inFirstSecond += chunk.length;
    devices.push({
      device,
      head: log.head(device),
      count: log.count(device),
      verify: { ok: report.ok, events: report.events, errors: report.errors.length },
      purged,
      first: { type: first.type, time: first.time, boot: first.boot },
      seqAtLastTime: await log.seqAtTime(last.time, device),
      inFirstSecond,
      eventsJsonSha256: sha(json),
      readSha256: sha(read),
    });
  }
  const facts = { devices };
  if (fleet) {
    const order = [];
    for await (const chunk of log.read({ fleet: true }))
      for (const { position, event } of chunk)
        order.push(`${position}:${event.device}:${event.seq}:${event.hash}`);
    facts.fleetOrder = { head: log.fleetHead, orderSha256: sha(order) };
  }
  return facts;
}
