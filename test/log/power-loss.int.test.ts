// Kill -9 a writer at random moments: every seq it reported as written must survive,
// and the log must open and verify every time.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';

const script = fileURLToPath(new URL('../support/append-loop.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fieldlog-powerloss-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function runAndKill(dir: string, killAfterLines: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, 'pl-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let maxSeq = 0;
    let lines = 0;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) {
        maxSeq = Math.max(maxSeq, Number(p));
        if (++lines === killAfterLines) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer ended by itself (${code}): ${stderr}`));
      else resolve(maxSeq);
    });
  });
}

describe('power loss', () => {
  it('keeps every acknowledged append across 15 random SIGKILLs', async () => {
    const dir = join(root, 'log');
    let reported = 0;
    for (let round = 0; round < 15; round++) {
      const maxSeq = await runAndKill(dir, 1 + Math.floor(Math.random() * 3000));
      reported = Math.max(reported, maxSeq);
      const log = await EventLog.open(dir);
      try {
        const report = await log.verify();
        expect(report.ok, JSON.stringify(report.errors.slice(0, 3))).toBe(true);
        // seqs are contiguous, so the head covering the largest reported seq covers them all
        expect(log.head().seq).toBeGreaterThanOrEqual(reported);
        expect(report.events).toBe(log.head().seq);
      } finally {
        await log.close();
      }
    }
    expect(reported).toBeGreaterThan(15);
  });
});
