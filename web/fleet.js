// The fleet page (skeleton): lists /devices. See fleet-page tests.
import { el, fmtAgo, getJSON } from './common.js';

const tbody = document.querySelector('#devices tbody');
const { devices } = await getJSON('/devices');
tbody.replaceChildren(
  ...devices.map((d) =>
    el(
      'tr',
      { dataset: { device: d.device } },
      el('td', { class: 'key' }, el('a', { href: `/device/${encodeURIComponent(d.device)}` }, d.device)),
      el('td', { 'data-label': 'status' }, d.online ? 'online' : 'offline'),
      el('td', { 'data-label': 'last seen' }, fmtAgo(d.lastSeen)),
    ),
  ),
);
document.getElementById('summary').textContent = `${devices.length} devices`;
