// chart.js - the Overview's time-series chart: a preact component on uPlot
// (its own module, so the other pages load without uPlot).
import uPlot from 'uplot';
import { html, useEffect, useRef, color, fmtNum } from './lib.js';

// A time-series chart on uPlot (a preact component): series =
// [{name, values}] aligned with xs (ms since epoch); the uPlot instance is
// made once and fed new data on every render.
export function Chart({ id, title, xs, series, fmt, empty }) {
  const box = useRef(null);
  const plot = useRef(null);
  const names = series.map(s => s.name).join('\n');
  const data = [xs.map(t => t / 1000), ...series.map(s => s.values.map(v => (Number.isFinite(v) ? v : null)))];
  useEffect(() => {
    if (xs.length < 2) return undefined;
    const f = fmt || fmtNum;
    plot.current = new uPlot({
      width: Math.max(300, (box.current.clientWidth || 460) - 4), height: 170,
      series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: color(i), width: 1.6, value: (u, v) => (v === null || v === undefined ? '–' : f(v)), points: { show: xs.length <= 40 } }))],
      axes: [{ stroke: '#6b7380', grid: { stroke: '#eceef2' } }, { stroke: '#6b7380', grid: { stroke: '#eceef2' }, size: 70, values: (u, vals) => vals.map(v => f(v)) }],
      scales: { y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
      cursor: { points: { size: 5 } },
    }, data, box.current);
    return () => { plot.current.destroy(); plot.current = null; };
  }, [names, xs.length < 2]);
  useEffect(() => { if (plot.current) plot.current.setData(data); });
  return html`<div class="chart" data-chart=${id || title}><h3>${title}</h3>${xs.length < 2 ? html`<p class="muted empty">${empty || 'collecting samples…'}</p>` : null}<div class="uplot-host" ref=${box}></div></div>`;
}
