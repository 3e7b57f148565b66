// Child process for the power-loss test: appends forever with durable group commits
// and prints each seq once its append has resolved (i.e. was reported as written).
import { EventLog } from '../../dist/src/log/event-log.js';

const [dir, device] = process.argv.slice(2);
const log = await EventLog.open(dir, { device, create: true, sync: true });
let i = 0;
for (;;) {
  const group = [];
  const n = 1 + Math.floor(Math.random() * 50);
  for (let k = 0; k < n; k++) {
    group.push(log.append({ type: 'ReadingRecorded', data: { source: 'loop', sensor: 'n', value: i++ } }));
  }
  const done = await Promise.all(group);
  process.stdout.write(`${done.map((e) => e.seq).join('\n')}\n`);
}
