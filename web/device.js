// The hub's device page (/device/ID): wires the parts together around one time range
// and one cursor. The range (a preset up to the device's latest reading, at first the
// shortest one holding the whole history; a custom from/to; a drag on a chart) drives
// the charts, the track, the timeline and the export links; the cursor (on the charts, the scrubber, or a timeline entry) drives the
// map's marker and the "as of" state. Tests read `window.fieldlogDevice`, and the
// `data-drawn` counter on <body> (each time a range is fully drawn; `data-charts` takes
// the same number once that range's charts are).
import { deviceApi, isAbort } from './device-api.js';
import { AsOf } from './device-asof.js';
import { SensorCharts } from './device-charts.js';
import { fmtTime, toLocalInput } from './device-dom.js';
import { EventList } from './device-events.js';
import { TrackMap } from './device-map.js';
import { renderAlarms, renderTimeline, TIMELINE_KINDS, TIMELINE_TYPES } from './device-timeline.js';
import { TrustPanel } from './device-trust.js';

const HOUR = 3_600_000;
const PRESETS = { '1h': HOUR, '1d': 24 * HOUR, '30d': 30 * 24 * HOUR };
/** Timeline events fetched for one range at most (marks and list). */
const TIMELINE_LIMIT = 2000;

const $ = (id) => document.getElementById(id);
const id = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] ?? '');
const api = deviceApi(id);
let drawn = 0;
let loading = null;
let range = null;

function showError(err) {
  const p = $('dv-error');
  p.textContent = err.message;
  p.hidden = false;
}

/** The device's sensors, and the times of its first and latest readings. */
async function readingTimes() {
  const { sensors } = await api.sensors();
  const first = Math.min(...sensors.map((s) => Date.parse(s.first)));
  const last = Math.max(...sensors.map((s) => Date.parse(s.last)));
  const latest = Number.isFinite(last) ? last : Date.now();
  return { sensors, first: Number.isFinite(first) ? first : latest, latest };
}

async function main() {
  document.title = `fieldlog · ${id}`;
  $('dv-title').textContent = id;
  const config = await api.config().catch(() => ({ tiles: null, attribution: null }));
  const map = new TrackMap($('dv-map'), config);
  const asOf = new AsOf(
    api,
    { input: $('dv-scrubber'), out: $('dv-asof-time'), box: $('dv-asof-state') },
    (ms) => {
      charts.showTime(ms);
      map.showTime(ms);
    },
  );
  const charts = new SensorCharts($('dv-charts'), api, {
    onCursor: (ms) => {
      map.showTime(ms);
      asOf.setTime(ms);
    },
    onZoom: (from, to) => void show(from, to),
  });
  const events = new EventList(
    api,
    {
      list: $('dv-events'),
      select: $('dv-type'),
      older: $('dv-older'),
      status: $('dv-live'),
      legend: $('dv-events-legend'),
    },
    (e) => {
      $('dv-head').textContent = `head #${e.seq}`;
    },
  );
  const trust = new TrustPanel(api, $('dv-trust'), $('dv-verify'));
  const pick = (ms) => {
    charts.showTime(ms);
    map.showTime(ms);
    asOf.setTime(ms);
  };
  addEventListener('resize', () => map.resize());

  let sensors = [];

  /** Draw everything that depends on the range from..to. */
  async function show(from, to) {
    loading?.abort();
    const ctl = new AbortController();
    loading = ctl;
    range = { from, to };
    window.fieldlogDevice.range = range;
    $('dv-range-label').textContent = `${fmtTime(from)} – ${fmtTime(to)}`;
    const form = $('dv-custom');
    form.elements.from.value = toLocalInput(from);
    form.elements.to.value = toLocalInput(to);
    $('dv-export-csv').href = api.exportUrl('csv', from, to);
    $('dv-export-ndjson').href = api.exportUrl('ndjson', from, to);
    asOf.setRange(from, to);
    // each part draws on its own: a part that fails says so without blanking the others
    const width = charts.width();
    const parts = await Promise.allSettled([
      charts.load(sensors, from, to, ctl.signal).then(() => {
        if (!ctl.signal.aborted) document.body.dataset.charts = String(drawn + 1);
      }),
      api.track(from, to, Math.min(10_000, width * 2), ctl.signal).then((track) => {
        if (ctl.signal.aborted) return;
        const fixes = map.show(track);
        $('dv-track-label').textContent = fixes ? `${fixes} fixes` : 'No position recorded in this range.';
      }),
      api.eventsInRange(TIMELINE_TYPES, from, to, TIMELINE_LIMIT, ctl.signal).then((marks) => {
        if (ctl.signal.aborted) return;
        charts.setMarks(
          marks.map((e) => ({ ms: Date.parse(e.time), kind: TIMELINE_KINDS[e.type] ?? 'source' })),
        );
        renderAlarms($('dv-alarms'), marks);
        renderTimeline($('dv-timeline'), marks, marks.length >= TIMELINE_LIMIT, pick);
      }),
    ]);
    if (ctl.signal.aborted) return;
    for (const p of parts) if (p.status === 'rejected' && !isAbort(p.reason)) showError(p.reason);
    asOf.setTime(to);
    map.showTime(to);
    document.body.dataset.drawn = String(++drawn);
  }

  /** A preset range up to the latest reading; without a name, the shortest that holds the whole history. */
  async function preset(name) {
    const r = await readingTimes();
    sensors = r.sensors;
    const span = name
      ? PRESETS[name]
      : (Object.values(PRESETS).find((ms) => ms >= r.latest - r.first) ?? PRESETS['30d']);
    await show(r.latest - span, r.latest);
  }

  window.fieldlogDevice = { id, charts, map, asOf, events, trust, range, show, preset };

  for (const b of document.querySelectorAll('[data-range]')) {
    b.addEventListener('click', () => void preset(b.dataset.range).catch(showError));
  }
  $('dv-custom').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    const from = new Date(f.from.value).getTime();
    const to = new Date(f.to.value).getTime();
    if (!(to > from)) return showError(new Error('the range must end after it starts'));
    $('dv-error').hidden = true;
    void show(from, to);
  });

  void trust.load();
  void events.reload();
  events.startTail();
  await preset();
}

main().catch(showError);
