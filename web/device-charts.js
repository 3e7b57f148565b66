// The device page's sensor charts (uPlot, the global the vendor script defines): one
// chart per sensor over the chosen range, from the hub's series endpoint at about one
// bucket per pixel, drawn as a min–max band with the average line so a spike inside a
// bucket still shows. All charts share one cursor (uPlot's cursor.sync) and one x range;
// dragging across a chart asks for that range (the page re-fetches, it does not just
// stretch the coarse buckets); the timeline's events are marked on every chart.
import { h } from './device-dom.js';
import { marksPlugin } from './device-timeline.js';

const SYNC_KEY = 'fieldlog-device';
const PALETTE = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e'];

export class SensorCharts {
  /**
   * @param container the element the charts go in
   * @param api the page's deviceApi
   * @param hooks onCursor(ms) when the user moves the cursor; onZoom(from, to) after a drag
   */
  constructor(container, api, hooks) {
    this.container = container;
    this.api = api;
    this.hooks = hooks;
    /** sensor → { plot: uPlot, url, answer } for the range last drawn (read by the tests) */
    this.charts = new Map();
    this.marks = [];
    this.range = null;
    this.echo = false;
    addEventListener('resize', () => this.resize());
  }

  /** The width a chart has, and so the number of buckets worth asking for. */
  width() {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  height() {
    return innerWidth < 600 ? 140 : 180;
  }

  /** Draw every sensor over from..to; resolves once all are drawn (or failed). */
  async load(sensors, from, to, signal) {
    this.range = { from, to };
    const width = this.width();
    const points = Math.min(10_000, width);
    const answers = await Promise.all(
      sensors.map(async (s) => {
        const url = this.api.seriesUrl(s.sensor, from, to, points);
        const answer = await this.api.series(s.sensor, from, to, points, signal);
        return { sensor: s.sensor, unit: s.unit, url, answer };
      }),
    );
    if (signal.aborted) return;
    for (const c of this.charts.values()) c.plot.destroy();
    this.charts.clear();
    const boxes = [];
    answers.forEach((a, i) => {
      const box = h('div', { class: 'dv-chart', 'data-sensor': a.sensor });
      const title = h(
        'h3',
        { class: 'dv-chart-title' },
        a.sensor,
        (a.answer.unit ?? a.unit) ? ` (${a.answer.unit ?? a.unit})` : '',
        h('span', { class: 'muted' }, ` · ${describeAnswer(a.answer)}`),
      );
      const plotBox = h('div', { class: 'dv-plot' });
      box.append(title, plotBox);
      boxes.push(box);
      const plot = new uPlot(this.options(PALETTE[i % PALETTE.length], width), this.data(a.answer), plotBox);
      this.charts.set(a.sensor, { plot, url: a.url, answer: a.answer });
    });
    this.container.replaceChildren(...boxes);
    if (boxes.length === 0)
      this.container.append(h('p', { class: 'muted' }, 'This device has recorded no readings.'));
    // uPlot measured nothing while detached: size them now that they are in the page
    this.resize();
  }

  data(a) {
    return [a.t, a.min, a.max, a.avg];
  }

  options(color, width) {
    const range = this.range;
    return {
      width,
      height: this.height(),
      ms: 1,
      legend: { live: true },
      series: [
        {},
        { label: 'min', stroke: `${color}66`, width: 1, points: { show: false } },
        { label: 'max', stroke: `${color}66`, width: 1, points: { show: false } },
        { label: 'avg', stroke: color, width: 1.5 },
      ],
      bands: [{ series: [2, 1], fill: `${color}2e` }],
      scales: { x: { time: true, range: () => [range.from, range.to] } },
      axes: [{}, { size: 50 }],
      cursor: {
        sync: { key: SYNC_KEY, setSeries: false },
        drag: { x: true, y: false, setScale: false },
      },
      plugins: [marksPlugin(() => this.marks)],
      hooks: {
        setCursor: [(u) => this.cursorMoved(u)],
        setSelect: [(u) => this.selected(u)],
      },
    };
  }

  cursorMoved(u) {
    if (this.echo) return;
    const left = u.cursor.left;
    if (left === undefined || left === null || left < 0) return;
    this.hooks.onCursor(Math.round(u.posToVal(left, 'x')));
  }

  selected(u) {
    const { left, width } = u.select;
    if (width < 3) return;
    const from = Math.round(u.posToVal(left, 'x'));
    const to = Math.round(u.posToVal(left + width, 'x'));
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.hooks.onZoom(from, to);
  }

  /** Put the shared cursor at `ms` (from the scrubber), without echoing back to it. */
  showTime(ms) {
    const first = this.charts.values().next().value;
    if (!first) return;
    const u = first.plot;
    this.echo = true;
    try {
      u.setCursor({ left: u.valToPos(ms, 'x'), top: u.bbox.height / devicePixelRatio / 2 }, true, true);
    } finally {
      this.echo = false;
    }
  }

  /** The timeline's events as marks: [{ms, kind}]. */
  setMarks(marks) {
    this.marks = marks;
    for (const c of this.charts.values()) c.plot.redraw(false, false);
  }

  resize() {
    const width = this.width();
    for (const c of this.charts.values()) c.plot.setSize({ width, height: this.height() });
  }
}

/** "905 readings" or "16 buckets of 3 min": what one chart's points are. */
function describeAnswer(a) {
  const n = a.t.length;
  if (a.resolution === 'raw') return `${n} readings`;
  const min = a.bucketMs / 60_000;
  const size = min % 1440 === 0 ? `${min / 1440} d` : min % 60 === 0 ? `${min / 60} h` : `${min} min`;
  return `${n} buckets of ${size}, min–max and average`;
}
