// The fleet page: every device the hub knows, with online/offline, last seen, lag, active
// alarms, rejects and forks, a filterable and sortable list linking to each device's page,
// and a Leaflet map of last positions (tiles only when the hub was given --map-tiles; else a
// plain background, so the page needs no internet). It loads /devices once, then follows
// /devices/live (server-sent events: one device's entry each time it changes).
import { el, errorText, fmtAgo, fmtTime, getJSON, subscribe } from './common.js';

/** device id → its latest /devices entry */
const devices = new Map();
const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#devices tbody');
const controls = { filter: $('filter'), show: $('show'), sort: $('sort') };

// the list's filter and order live in the query, so a link or a reload keeps them
const query = new URLSearchParams(location.search);
for (const [name, input] of Object.entries(controls)) {
  const v = query.get(name === 'filter' ? 'q' : name);
  if (v !== null && (input.tagName !== 'SELECT' || [...input.options].some((o) => o.value === v)))
    input.value = v;
  input.addEventListener('input', () => {
    const q = new URLSearchParams(location.search);
    const key = name === 'filter' ? 'q' : name;
    if (input.value && input.value !== input.options?.[0]?.value) q.set(key, input.value);
    else q.delete(key);
    const search = q.toString();
    history.replaceState(null, '', search ? `?${search}` : location.pathname);
    render();
  });
}

const rejectCount = (d) => Object.values(d.rejects ?? {}).reduce((a, b) => a + b, 0);
const activeAlarms = (d) => d.alarms ?? [];

function shown(d) {
  const text = controls.filter.value.trim().toLowerCase();
  if (text && !`${d.device} ${d.fleet ?? ''}`.toLowerCase().includes(text)) return false;
  switch (controls.show.value) {
    case 'online':
      return d.online;
    case 'offline':
      return !d.online;
    case 'alarms':
      return activeAlarms(d).length > 0;
    case 'problems':
      return rejectCount(d) > 0 || d.forks > 0;
    default:
      return true;
  }
}

const byName = (a, b) => a.device.localeCompare(b.device);
const ORDERS = {
  device: byName,
  // most recent first; never-seen devices last
  lastSeen: (a, b) =>
    (Date.parse(b.lastSeen ?? '') || 0) - (Date.parse(a.lastSeen ?? '') || 0) || byName(a, b),
  lag: (a, b) => (b.lag ?? 0) - (a.lag ?? 0) || byName(a, b),
  alarms: (a, b) => activeAlarms(b).length - activeAlarms(a).length || byName(a, b),
};

function alarmCell(d) {
  const alarms = activeAlarms(d);
  if (alarms.length === 0) return el('span', { class: 'muted' }, 'none');
  return alarms.map((a) =>
    el(
      'span',
      {
        class: `pill ${a.acknowledged ? 'warn' : 'alarm'}`,
        title: `${a.kind ?? ''} since ${fmtTime(a.since)}${a.acknowledged ? `, acknowledged by ${a.by ?? '?'}` : ''}`,
      },
      a.sensor ?? a.alarm,
      a.acknowledged ? ' ✓' : '',
    ),
  );
}

function problemCell(d) {
  const rejects = rejectCount(d);
  if (rejects === 0 && !d.forks) return el('span', { class: 'muted' }, 'none');
  const why = Object.entries(d.rejects ?? {})
    .map(([reason, n]) => `${reason}: ${n}`)
    .join(', ');
  return [
    rejects > 0 && el('span', { class: 'pill warn', title: why }, `${rejects} rejected`),
    d.forks > 0 &&
      el('span', { class: 'pill alarm', title: 'forked events quarantined' }, `${d.forks} forked`),
  ];
}

const ENROLLED = { 'keys-file': 'enrolled by the keys file', tofu: 'bound on first use' };

/** The device's identity: signed (its stored head carries its signature) or not, its fingerprint on hover. */
function keyCell(d) {
  const k = d.key;
  if (!k?.fingerprint) return el('span', { class: 'muted', dataset: { signed: 'false' } }, 'no key');
  const title = `key ${k.fingerprint} · ${ENROLLED[k.enrolled] ?? 'not enrolled'}`;
  return el(
    'span',
    {
      class: `pill ${k.signed ? 'online' : 'warn'}`,
      title,
      dataset: { signed: String(k.signed), fingerprint: k.fingerprint },
    },
    k.signed ? 'signed' : 'unsigned',
  );
}

function row(d) {
  return el(
    'tr',
    { dataset: { device: d.device, online: String(Boolean(d.online)) } },
    el(
      'td',
      { class: 'key' },
      el('a', { href: `/device/${encodeURIComponent(d.device)}` }, d.device),
      d.fleet && d.fleet !== 'default' ? el('span', { class: 'muted' }, ` · ${d.fleet}`) : null,
    ),
    el(
      'td',
      { 'data-label': 'status' },
      el('span', { class: `pill ${d.online ? 'online' : 'offline'}` }, d.online ? 'online' : 'offline'),
    ),
    el('td', { 'data-label': 'last seen', class: 'ago', title: fmtTime(d.lastSeen) }, fmtAgo(d.lastSeen)),
    el(
      'td',
      { 'data-label': 'lag', class: 'num', title: 'events the device has that the hub does not hold yet' },
      d.lag > 0 ? el('span', { class: 'pill warn' }, String(d.lag)) : String(d.lag ?? 0),
    ),
    el('td', { 'data-label': 'events', class: 'num' }, String(d.head?.seq ?? 0)),
    el('td', { 'data-label': 'alarms' }, alarmCell(d)),
    el('td', { 'data-label': 'rejects / forks' }, problemCell(d)),
    el('td', { 'data-label': 'key' }, keyCell(d)),
  );
}

function summary(all) {
  const online = all.filter((d) => d.online).length;
  const alarmed = all.filter((d) => activeAlarms(d).length > 0).length;
  $('summary').textContent =
    `${all.length} device${all.length === 1 ? '' : 's'} · ${online} online · ${all.length - online} offline · ${alarmed} with active alarms`;
}

/** Devices changed since the last render: only their rows and markers are rebuilt. */
const dirty = new Set();
/** device id → its row, as last built */
const rows = new Map();
let scheduled = false;
let lastRender = 0;

function changed(d) {
  devices.set(d.device, d);
  dirty.add(d.device);
  render();
}

/**
 * Redraws at most once a frame and four times a second, however many updates arrive (a
 * thousand devices each sending once a second must not rebuild a thousand rows a frame).
 */
function render() {
  if (scheduled) return;
  scheduled = true;
  const wait = Math.max(0, lastRender + 250 - performance.now());
  setTimeout(() => requestAnimationFrame(draw), wait);
}

function draw() {
  scheduled = false;
  lastRender = performance.now();
  const all = [...devices.values()];
  summary(all);
  for (const id of dirty) rows.set(id, row(devices.get(id)));
  map?.update([...dirty].map((id) => devices.get(id)));
  dirty.clear();
  const list = all.filter(shown).sort(ORDERS[controls.sort.value] ?? byName);
  tbody.replaceChildren(...list.map((d) => rows.get(d.device)));
  if (list.length === 0)
    tbody.append(
      el(
        'tr',
        {},
        el('td', { colspan: 7, class: 'muted' }, all.length ? 'No device matches.' : 'No device yet.'),
      ),
    );
}

/** The map of last positions; null when Leaflet did not load. */
function fleetMap(config) {
  const L = window.L;
  if (!L) return null;
  const map = L.map('map', { attributionControl: Boolean(config.tiles), worldCopyJump: true }).setView(
    [20, 0],
    2,
  );
  if (config.tiles)
    L.tileLayer(config.tiles, { attribution: config.attribution ?? '', maxZoom: 19 }).addTo(map);
  else $('map').classList.add('plain');
  const markers = new Map();
  let fitted = false;
  return {
    /** Moves, recolours, adds or removes the markers of these devices. */
    update(changedDevices) {
      for (const d of changedDevices) {
        const p = d.position;
        let m = markers.get(d.device);
        if (!p || !Number.isFinite(p.lat) || !Number.isFinite(p.lon)) {
          // no position (a redacted fix): no marker
          m?.remove();
          markers.delete(d.device);
          continue;
        }
        const colour = activeAlarms(d).length ? '#b3261e' : d.online ? '#1e7b34' : '#6b7680';
        if (!m) {
          m = L.circleMarker([p.lat, p.lon], { radius: 7, weight: 2, fillOpacity: 0.8 }).addTo(map);
          m.bindTooltip(d.device);
          m.on('click', () => location.assign(`/device/${encodeURIComponent(d.device)}`));
          markers.set(d.device, m);
        }
        m.setLatLng([p.lat, p.lon]);
        m.setStyle({ color: colour, fillColor: colour });
        m.getElement()?.setAttribute('data-device', d.device);
        m.setTooltipContent(`${d.device} · ${d.online ? 'online' : 'offline'} · ${fmtTime(p.time)}`);
      }
      // frame the fleet once, when the first positions arrive; later the user's view stays
      if (!fitted && markers.size > 0) {
        fitted = true;
        const bounds = L.latLngBounds([...markers.values()].map((m) => m.getLatLng()));
        map.fitBounds(bounds.pad(0.2), { maxZoom: 14 });
      }
      $('map-note').textContent =
        markers.size === 0 ? 'No device has reported a position yet.' : `${markers.size} with a position.`;
    },
  };
}

let map = null;

function setLive(text, ok) {
  const live = $('live');
  live.textContent = text;
  live.dataset.state = ok ? 'live' : 'waiting';
}

/**
 * Keeps `devices` current from /devices/live: every device at connect (so a reconnect after
 * the hub restarted refreshes them all), then each device as it changes.
 */
function follow() {
  subscribe(
    '/devices/live',
    {
      device: changed,
    },
    { onState: (s) => setLive(s === 'open' ? 'live' : 'reconnecting…', s === 'open') },
  );
}

async function main() {
  const [config, list] = await Promise.all([getJSON('/ui/config.json'), getJSON('/devices')]);
  map = fleetMap(config);
  for (const d of list.devices) changed(d);
  render();
  follow();
  // "12 s ago" grows by itself
  setInterval(() => {
    const now = Date.now();
    for (const td of tbody.querySelectorAll('td.ago')) {
      const d = devices.get(td.parentElement.dataset.device);
      if (d) td.textContent = fmtAgo(d.lastSeen, now);
    }
  }, 5000);
}

main().catch((err) => {
  $('summary').replaceChildren(el('span', { class: 'error' }, `Could not load the fleet: ${errorText(err)}`));
  setLive('offline', false);
});
