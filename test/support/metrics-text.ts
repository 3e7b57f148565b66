// One sample of Prometheus text (what /metrics answers), for tests that read a metric.

/** The value of `series` (a name, with its labels as printed: `x_total{reason="a"}`), or undefined. */
export function metricValue(text: string, series: string): number | undefined {
  const escaped = series.replace(/[{}"]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}
