// "As of": a scrubber over the chosen range and the device's state at that moment, from
// the hub's GET /devices/ID/state?at= (the projection the device's own console shows:
// sensors, alarms, sources, thresholds, position). Moving the charts' cursor moves the
// scrubber; moving the scrubber moves the cursor. Reads are throttled and a newer one
// aborts an older, so a fast drag ends on the state of where it stopped.
import { isAbort } from './device-api.js';
import { actorName, fmtTime, h, throttle, timeEl } from './device-dom.js';

export class AsOf {
  constructor(api, els, onTime) {
    this.api = api;
    this.input = els.input;
    this.out = els.out;
    this.box = els.box;
    this.onTime = onTime;
    this.pending = null;
    /** The last state shown: { at, answer } (read by the tests). */
    this.shown = null;
    this.fetchThrottled = throttle((ms) => this.fetch(ms), 120);
    this.input.addEventListener('input', () => {
      const ms = Number(this.input.value);
      this.out.textContent = fmtTime(ms);
      this.fetchThrottled(ms);
      this.onTime(ms);
    });
  }

  setRange(from, to) {
    this.input.min = String(from);
    this.input.max = String(to);
    this.input.step = '1';
  }

  /** Show the state at `ms` (from the charts' cursor). */
  setTime(ms) {
    this.input.value = String(ms);
    this.out.textContent = fmtTime(ms);
    this.fetchThrottled(ms);
  }

  async fetch(ms) {
    this.pending?.abort();
    const ctl = new AbortController();
    this.pending = ctl;
    try {
      const answer = await this.api.stateAt(ms, ctl.signal);
      if (ctl.signal.aborted) return;
      this.render(ms, answer);
    } catch (err) {
      if (isAbort(err)) return;
      this.box.replaceChildren(h('p', { class: 'error' }, String(err.message)));
    }
  }

  render(ms, answer) {
    const s = answer.state;
    const sensors = Object.entries(s.sensors).sort(([a], [b]) => a.localeCompare(b));
    const alarms = Object.values(s.alarms);
    const sources = Object.entries(s.sources);
    const thresholds = Object.entries(s.thresholds);
    this.box.replaceChildren(
      h('p', { class: 'muted' }, `after event #${answer.asOfSeq}`, s.time ? [' of ', timeEl(s.time)] : ''),
      section(
        'Sensors',
        sensors.map(([name, v]) =>
          h(
            'tr',
            { 'data-sensor': name, 'data-value': v.value, 'data-seq': v.seq },
            h('td', null, name),
            h('td', { class: 'dv-num' }, `${v.value}${v.unit ? ` ${v.unit}` : ''}`),
            h('td', null, timeEl(v.time)),
          ),
        ),
      ),
      section(
        'Active alarms',
        alarms.map((a) =>
          h(
            'tr',
            { 'data-alarm': a.alarm, 'data-by': a.acknowledgedBy ?? '' },
            h('td', null, a.alarm),
            h('td', null, `${a.sensor} ${a.value} ${a.kind} ${a.limit}`),
            h('td', null, a.acknowledgedBy ? `ack. by ${actorName(a.acknowledgedBy)}` : 'not acknowledged'),
          ),
        ),
      ),
      section(
        'Sources',
        sources.map(([name, src]) =>
          h(
            'tr',
            { 'data-source': name, 'data-connected': String(src.connected) },
            h('td', null, name),
            h(
              'td',
              null,
              src.connected ? 'connected' : `disconnected${src.reason ? ` (${src.reason})` : ''}`,
            ),
            h('td', null, timeEl(src.since)),
          ),
        ),
      ),
      section(
        'Thresholds',
        thresholds.map(([sensor, t]) =>
          h(
            'tr',
            { 'data-threshold': sensor },
            h('td', null, sensor),
            h('td', null, `above ${t.above ?? '–'}, below ${t.below ?? '–'}`),
            h('td', null, t.by ? `by ${actorName(t.by)}` : ''),
          ),
        ),
      ),
      section(
        'Position',
        s.position
          ? [
              h(
                'tr',
                { 'data-lat': s.position.lat, 'data-lon': s.position.lon },
                h('td', null, `${s.position.lat.toFixed(6)}, ${s.position.lon.toFixed(6)}`),
                h('td', null, timeEl(s.position.time)),
              ),
            ]
          : [],
      ),
      h('p', { class: 'muted' }, `frames rejected ${s.frames.rejected}, lost ${s.frames.lost}`),
    );
    this.shown = { at: ms, answer };
    this.box.dataset.at = String(ms);
  }
}

function section(title, rows) {
  return h(
    'div',
    { class: 'dv-asof-part' },
    h('h3', null, title),
    rows.length
      ? h('table', { class: 'dv-table' }, h('tbody', null, rows))
      : h('p', { class: 'muted' }, 'none'),
  );
}
