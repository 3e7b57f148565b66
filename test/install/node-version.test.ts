// One Node.js minimum, said the same way everywhere: package.json's engines, the `fieldlog`
// command's guard and the README. (That it is the true minimum is test/install/node-minimum.sys.test.ts.)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { engineMinimum } from '../support/node-builds.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; engines: { node: string } };
const minimum = engineMinimum(fileURLToPath(new URL('../../package.json', import.meta.url)));

describe('the Node.js minimum', () => {
  it('is the one the fieldlog command checks', () => {
    expect(pkg.bin.fieldlog).toBe('bin/fieldlog.js');
    expect(read('bin/fieldlog.js')).toContain(`const MINIMUM = '${minimum}';`);
  });

  it('is the one the README states for the two commands and for the Pi', () => {
    const short = minimum.replace(/\.0$/, '');
    const readme = read('README.md');
    expect(readme).toContain(`**${short} or newer runs fieldlog**`);
    expect(readme).toContain(`**Node.js ${short} or newer**`);
    expect(readme).toContain(`fieldlog: needs Node.js >= ${minimum}, this is`);
  });
});
