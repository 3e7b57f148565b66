// The device page in a real Chromium against a real hub on its LevelDB store (the tests
// are device-page-suite.ts'); this run writes the README's screenshots.
import { devicePageSuite } from './device-page-suite.js';

devicePageSuite('LevelDB', { store: async () => undefined, screenshots: true });
