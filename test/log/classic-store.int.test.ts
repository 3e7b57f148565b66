import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { logContract } from './log-contract.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-contract-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

logContract('classic-level', (opts) => EventLog.open(join(root, `log-${n++}`), opts));
