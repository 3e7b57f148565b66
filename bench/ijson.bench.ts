// What the I-JSON rule costs the hub's hot path: the scan of a replication batch (about
// 120 KiB, as the replicator cuts them) against JSON.parse of the same text, which the hub
// runs anyway; and the whole validation of a batch (parse, scan, schemas) for scale.
import { EventLog } from '../src/log/event-log.js';
import { ijsonProblem } from '../src/log/ijson.js';
import { parseEvents } from '../src/sync/messages.js';
import { type BenchResult, median, rate } from './report.js';

async function batch(n: number): Promise<Buffer> {
  const log = await EventLog.memory({ device: 'pi-01', create: true });
  await log.appendMany(
    Array.from({ length: n }, (_, i) => ({
      type: 'ReadingRecorded',
      data: {
        source: 'node-1',
        sensor: ['temp', 'hum', 'pressure'][i % 3]!,
        value: Math.round(i * 7.3) / 100,
        unit: 'C',
      },
      meta: { actor: 'sensor:node-1' },
    })),
  );
  const events = [];
  for await (const e of log.events()) events.push(e);
  await log.close();
  return Buffer.from(JSON.stringify({ device: 'pi-01', events }));
}

/** Events per second through `fn`, the median of interleaved rounds. */
function measure(fns: (() => unknown)[], perCall: number, calls: number): number[] {
  const runs: number[][] = fns.map(() => []);
  for (let round = 0; round < 9; round++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) fn();
      runs[k]!.push(rate(perCall * calls, performance.now() - t0));
    });
  }
  return runs.map(median);
}

export async function benchIJson(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const N = 280; // events in a 120 KiB batch
  const buf = await batch(N);
  const text = buf.toString('latin1');
  if (ijsonProblem(text) !== undefined) throw new Error('the batch is not I-JSON');
  const calls = opts.quick ? 50 : 400;
  for (let i = 0; i < 50; i++) {
    JSON.parse(text);
    ijsonProblem(text);
    parseEvents(buf, 'pi-01');
  }
  const [parse, scan, whole] = measure(
    [() => JSON.parse(text), () => ijsonProblem(text), () => parseEvents(buf, 'pi-01')],
    N,
    calls,
  );
  const baseline = {
    name: `JSON.parse of the same ${Math.round(buf.length / 1024)} KiB batch`,
    value: parse!,
    unit: 'events/s',
  };
  return [
    {
      name: 'ijson.scan',
      value: scan!,
      unit: 'events/s',
      baseline,
      ratio: scan! / parse!,
      target: '>= 2',
      pass: scan! / parse! >= 2,
    },
    { name: 'ijson.batch.validate', value: whole!, unit: 'events/s', baseline, ratio: whole! / parse! },
  ];
}
