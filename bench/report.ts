// Benchmark results: a figure, its same-run baseline, the ratio and the target.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number; unit: string };
  ratio?: number;
  target?: string;
  pass?: boolean;
}

export function rate(n: number, ms: number): number {
  return (n * 1000) / ms;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(n: number): string {
  return n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 100 ? 0 : 2);
}

export function printResults(results: BenchResult[]): void {
  for (const r of results) {
    const base = r.baseline
      ? `  baseline ${fmt(r.baseline.value)} ${r.baseline.unit} (${r.baseline.name})`
      : '';
    const ratio = r.ratio !== undefined ? `  ratio ${r.ratio.toFixed(2)}` : '';
    const target = r.target ? `  target ${r.target} ${r.pass ? 'ok' : 'MISSED'}` : '';
    process.stdout.write(
      `${r.name.padEnd(30)} ${fmt(r.value)} ${r.unit}${ratio}${target}\n${base ? `${''.padEnd(30)}${base}\n` : ''}`,
    );
  }
}

export function saveResults(file: string, results: BenchResult[]): void {
  mkdirSync(new URL('./results/', `file://${process.cwd()}/bench/`), { recursive: true });
  const doc = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    results,
  };
  writeFileSync(`bench/results/${file}`, `${JSON.stringify(doc, null, 2)}\n`);
}
