import { defineConfig } from 'vitest/config';

// Three tiers by file name: unit (*.test.ts), integration (*.int.test.ts: real LevelDB,
// in-process broker, mock binding) and system (*.sys.test.ts: real processes and system
// programs).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          // property tests run hundreds of cases: 5 s is too little on a loaded 2-core machine
          testTimeout: 30_000,
          exclude: ['test/**/*.int.test.ts', 'test/**/*.sys.test.ts'],
        },
      },
      {
        test: { name: 'int', include: ['test/**/*.int.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        test: {
          name: 'sys',
          include: ['test/**/*.sys.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
