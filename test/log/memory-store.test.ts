import { EventLog } from '../../src/log/event-log.js';
import { logContract } from './log-contract.js';

logContract('memory-level', (opts) => EventLog.memory(opts));
