// `npm run bench [-- --quick] [-- NAME...]`: runs the benchmarks, prints figures with their
// same-run baselines and ratios, and writes them to bench/results/NAME.json.
import { benchBudget } from './budget.bench.js';
import { benchConsole } from './console.bench.js';
import { benchFleet } from './fleet.bench.js';
import { benchIJson } from './ijson.bench.js';
import { benchLog } from './log.bench.js';
import { benchPage } from './page.bench.js';
import { benchPg } from './pg.bench.js';
import { benchPipeline } from './pipeline.bench.js';
import { type BenchResult, printResults, saveResults } from './report.js';
import { benchRetention } from './retention.bench.js';
import { benchSerial } from './serial.bench.js';
import { benchSeries } from './series.bench.js';
import { benchSignatures } from './signatures.bench.js';
import { benchSigning } from './signing.bench.js';
import { benchSync } from './sync.bench.js';
import { benchWear } from './wear.bench.js';

const suites: Record<string, (o: { quick: boolean }) => Promise<BenchResult[]>> = {
  log: benchLog,
  signing: benchSigning,
  serial: benchSerial,
  pipeline: benchPipeline,
  sync: benchSync,
  ijson: benchIJson,
  console: benchConsole,
  fleet: benchFleet,
  pg: benchPg,
  // pg's first part alone, without its long fleet catch-up (run only when named)
  'pg-ingest': (o) => benchPg({ ...o, ingestOnly: true }),
  signatures: benchSignatures,
  page: benchPage,
  series: benchSeries,
  wear: benchWear,
  budget: benchBudget,
  retention: benchRetention,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
for (const n of names) {
  if (!suites[n]) {
    process.stderr.write(`bench: unknown suite "${n}" (have: ${Object.keys(suites).join(', ')})\n`);
    process.exit(2);
  }
}
/** Parts of another suite: run only when named, never twice by `npm run bench`. */
const PARTS = new Set(['pg-ingest']);
for (const name of names.length ? names : Object.keys(suites).filter((n) => !PARTS.has(n))) {
  process.stdout.write(`# ${name}${quick ? ' (quick)' : ''}\n`);
  const results = await suites[name]!({ quick });
  printResults(results);
  // a skipped suite (nothing measured) keeps its last saved figures
  if (!quick && results.length > 0) saveResults(`${name}.json`, results);
}
