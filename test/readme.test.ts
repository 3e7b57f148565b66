// The README is the user's reference: every error code must be in its table, and every
// flag of every command in that command's part of the command-line reference.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/commands.js';
import { ERROR_CODES } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's part on one command: from its `### \`fieldlog NAME\`` heading to the next heading. */
function section(name: string): string {
  const heading = `### \`fieldlog ${name}\``;
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) return '';
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/^#{1,3} /m);
  return end < 0 ? rest : rest.slice(0, end);
}

describe('README', () => {
  it('lists every error code with its exit code', () => {
    for (const [code, { exit }] of Object.entries(ERROR_CODES)) {
      expect(readme, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${exit} \\|`));
    }
  });

  it('documents every flag of every command under that command', () => {
    for (const c of COMMANDS) {
      const text = section(c.name);
      expect(text, `a section "### \`fieldlog ${c.name}\`"`).not.toBe('');
      for (const name of Object.keys(c.flags)) {
        expect(text, `fieldlog ${c.name} --${name}`).toMatch(new RegExp(`\`--${name}[\` ]`));
      }
    }
  });

  it('shows only images that are in the repository', () => {
    const images = [...readme.matchAll(/<img src="([^"]+)"|!\[[^\]]*\]\(([^)\s]+)\)/g)].map(
      (m) => m[1] ?? m[2]!,
    );
    expect(images.length).toBeGreaterThan(0);
    for (const src of images) {
      expect(src, 'a local path: the README is read offline too').not.toMatch(/^[a-z]+:/);
      expect(existsSync(new URL(`../${src}`, import.meta.url)), src).toBe(true);
    }
  });

  it('names the two set-up commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
