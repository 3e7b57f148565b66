// The trust panel: whether the device's stored chain verifies (the hub's last
// verification: ok or failed, when, over how many events, with its problems), a button
// that runs it now (POST /devices/ID/verify: reads the chain, changes nothing), the forks
// quarantined, the gaps the device had to rewind over, and the redactions with their
// reason and actor, and the device's identity: its key's fingerprint, how the hub enrolled
// it, and how far its stored log is signed (GET /devices/ID/trust).
import { actorName, h, timeEl } from './device-dom.js';

export class TrustPanel {
  constructor(api, box, button) {
    this.api = api;
    this.box = box;
    this.button = button;
    this.trust = null;
    button.addEventListener('click', () => void this.verify());
  }

  async load() {
    try {
      this.render(await this.api.trust());
    } catch (err) {
      this.box.replaceChildren(h('p', { class: 'error' }, err.message));
    }
  }

  async verify() {
    this.button.disabled = true;
    this.button.textContent = 'Verifying…';
    try {
      const verification = await this.api.verify();
      this.render({ ...(this.trust ?? {}), verification });
      // the other parts (quarantine, redactions) may have moved on meanwhile
      await this.load();
    } catch (err) {
      this.box.prepend(h('p', { class: 'error' }, err.message));
    } finally {
      this.button.disabled = false;
      this.button.textContent = 'Verify now';
    }
  }

  render(t) {
    this.trust = t;
    const v = t.verification;
    const verdict = v
      ? h(
          'p',
          { class: v.ok ? 'dv-ok' : 'dv-bad', 'data-ok': String(v.ok) },
          v.ok ? '✔ chain verifies' : '✘ chain does not verify',
          ` (${v.events} events, checked `,
          timeEl(v.at),
          ')',
        )
      : h('p', { class: 'muted', 'data-ok': '' }, 'Not verified since the hub started.');
    const problems = v?.problems?.length
      ? h(
          'ul',
          { class: 'dv-problems' },
          v.problems.map((p) =>
            h('li', null, typeof p === 'string' ? p : `#${p.seq ?? '?'}: ${p.reason ?? JSON.stringify(p)}`),
          ),
        )
      : null;
    const quarantined = t.quarantined ?? [];
    const identity = identityPart(t.key);
    const redactions = t.redactions ?? [];
    this.box.replaceChildren(
      verdict,
      problems ?? '',
      h('p', null, `forks quarantined: ${t.forks ?? 0} · gaps rewound over: ${t.rewinds ?? 0}`),
      quarantined.length
        ? h(
            'ul',
            { class: 'dv-quarantine' },
            quarantined.map((q) =>
              h(
                'li',
                null,
                `#${q.seq} `,
                h('code', null, String(q.hash).slice(0, 16)),
                ` ${q.reason} `,
                timeEl(q.at),
              ),
            ),
          )
        : '',
      h('h3', null, 'Identity'),
      identity,
      h('h3', null, 'Redactions'),
      redactions.length
        ? h(
            'table',
            { class: 'dv-table dv-redactions' },
            h(
              'tbody',
              null,
              redactions.map((r) =>
                h(
                  'tr',
                  { 'data-target': r.target },
                  h('td', null, `#${r.target}`),
                  h('td', null, r.reason),
                  h('td', null, actorName(r.by) ?? ''),
                  h('td', null, timeEl(r.time)),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'none'),
    );
  }
}

const ENROLLED = {
  'keys-file': "enrolled by the hub's keys file",
  tofu: 'bound on first use',
};

/** The key part of the trust view (its `key`): fingerprint, enrolment, signed prefix. */
function identityPart(k) {
  if (!k?.fingerprint)
    return h('p', { class: 'muted dv-key', 'data-signed': 'false' }, 'No device key: events are not signed.');
  const signedText = k.signed
    ? `stored log signed to its head (#${k.lastSigned})`
    : k.lastSigned !== null && k.lastSigned !== undefined
      ? `last signature at #${k.lastSigned}`
      : 'no signature found at the head';
  return h(
    'div',
    { class: 'dv-key', 'data-signed': String(Boolean(k.signed)), 'data-fingerprint': k.fingerprint },
    h('p', null, 'key ', h('code', { class: 'dv-fingerprint' }, k.fingerprint)),
    h(
      'p',
      null,
      `${ENROLLED[k.enrolled] ?? 'not enrolled (the hub does not check its signatures)'} · ${signedText}`,
    ),
    k.unsignedTail
      ? h('p', { class: 'dv-bad' }, `unsigned tail: #${k.unsignedTail.from}–#${k.unsignedTail.to}`)
      : '',
    (k.keys ?? []).length > 1
      ? h(
          'p',
          { class: 'muted' },
          `earlier keys: ${k.keys
            .slice(0, -1)
            .map((x) => x.fingerprint)
            .join(', ')}`,
        )
      : '',
  );
}
