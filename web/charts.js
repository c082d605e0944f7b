// charts.js — the person's charts (/api/v1/charts), each drawn from
// /api/v1/charts/{id}/data with uPlot (line, area, bar, scatter; gauge
// and table as text), refreshed at its refreshInterval, and at once
// (debounced) when the stream brings a point of one of its series.
import { get, el, parseTs, formatValue } from './api.js';

const charts = new Map(); // id -> { def, fig, plot, timer, pending, loading }
let resizer = null;
let generation = 0; // of loadCharts: a load overtaken by a newer one stops

function colour(s, i, def) {
  const custom = def.customColors || (def.appearance_config || {}).customColors;
  return s.color || (custom && custom[i]) || ['#1976d2', '#e65100', '#2e7d32', '#6a1b9a', '#c62828'][i % 5];
}

// The columns drawn: each series' values, and for aggregated charts each
// series' bucket max and min after them (a band between the two).
function columnsOf(data) {
  const series = data.series || [];
  const cols = series.map((s, i) => ({ s, i, key: 'value' }));
  const bands = [];
  if (data.window && series.some((s) => s.points.some((p) => typeof p.min === 'number'))) {
    series.forEach((s, i) => {
      cols.push({ s, i, key: 'max' }, { s, i, key: 'min' });
      bands.push({ series: [cols.length - 1, cols.length], i });
    });
  }
  return { cols, bands };
}

// The columns on one time axis (seconds), nulls where a series has no point.
function align(cols) {
  const xs = new Set();
  const sec = (p) => Math.round(parseTs(p.timestamp).getTime()) / 1000;
  for (const c of cols) for (const p of c.s.points) xs.add(sec(p));
  const x = [...xs].sort((a, b) => a - b);
  const at = new Map(x.map((t, i) => [t, i]));
  const ys = cols.map((c) => {
    const y = new Array(x.length).fill(null);
    for (const p of c.s.points) y[at.get(sec(p))] = typeof p[c.key] === 'number' ? p[c.key] : null;
    return y;
  });
  return [x, ...ys];
}

function bandSeries(col, c) {
  return { label: `${col.s.label || col.s.measurement} ${col.key}`, stroke: /^#[0-9a-f]{6}$/i.test(c) ? `${c}66` : c,
    width: 1, points: { show: false }, spanGaps: false,
    value: (u, v) => (v === null || v === undefined ? '–' : formatValue(v)) };
}

function uplotOptions(def, { cols, bands }, width) {
  const type = def.type || 'line';
  const ap = Object.assign({}, def.appearance_config || {}, def);
  const lw = Number(ap.lineWidth) || 2;
  const bars = type === 'bar' && window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.6, 40] }) : null;
  return {
    width,
    height: Math.max(180, Math.min(320, Math.round(width * 0.5))),
    legend: { show: ap.showLegend !== false },
    cursor: { focus: { prox: 16 } },
    scales: { y: { range: (u, min, max) => [ap.yAxisMin ?? min, ap.yAxisMax ?? max] } },
    axes: [{ grid: { show: ap.showGrid !== false } }, { grid: { show: ap.showGrid !== false } }],
    bands: bands.map((b) => {
      const c = colour(cols[b.i].s, b.i, def);
      return { series: b.series, fill: /^#[0-9a-f]{6}$/i.test(c) ? `${c}22` : 'rgba(128,128,128,0.15)' };
    }),
    series: [{}].concat(cols.map((col) => {
      const { s, i } = col;
      const c = colour(s, i, def);
      if (col.key !== 'value') return bandSeries(col, c);
      return {
        label: s.label || `${s.device_name} ${s.measurement}`,
        stroke: c,
        width: lw,
        fill: (type === 'area' || ap.fillArea) && /^#[0-9a-f]{6}$/i.test(c) ? `${c}33` : (type === 'bar' ? c : undefined),
        paths: type === 'scatter' ? () => null : bars || undefined,
        points: { show: type === 'scatter' ? true : undefined, size: type === 'scatter' ? 6 : undefined, fill: c },
        spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? '–' : `${formatValue(v)}${s.unit ? ` ${s.unit}` : ''}`),
      };
    })),
  };
}

function lastValues(series) {
  return series.map((s) => {
    const p = s.points[s.points.length - 1];
    return `${s.label || s.measurement}: ${p ? formatValue(p.value) : 'no data'}${p && s.unit ? ` ${s.unit}` : ''}`;
  });
}

function drawText(c, def, series) {
  const box = c.fig.querySelector('.plot');
  box.replaceChildren();
  if (def.type === 'gauge') {
    for (const t of lastValues(series)) box.append(el('p', { class: 'gauge', text: t }));
    return;
  }
  const rows = [];
  for (const s of series) for (const p of s.points.slice(-20)) rows.push([p.timestamp, s.label || s.measurement, p.value]);
  rows.sort((a, b) => (a[0] < b[0] ? 1 : -1));
  const tb = el('tbody');
  for (const r of rows) tb.append(el('tr', {}, el('td', { text: parseTs(r[0]).toLocaleString() }), el('td', { text: r[1] }), el('td', { text: formatValue(r[2]) })));
  box.append(el('div', { class: 'table-wrap' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Time' }),
    el('th', { scope: 'col', text: 'Series' }), el('th', { scope: 'col', text: 'Value' }))), tb)));
}

function draw(c, data) {
  const series = data.series || [];
  const points = series.reduce((n, s) => n + s.points.filter((p) => typeof p.value === 'number').length, 0);
  c.fig.dataset.series = String(series.length);
  c.fig.dataset.points = String(points);
  const box = c.fig.querySelector('.plot');
  const summary = c.fig.querySelector('.summary');
  summary.textContent = points ? lastValues(series).join('; ') : 'No data in this time range.';
  box.setAttribute('aria-label', `${c.def.title || c.def.name}: ${summary.textContent}`);
  if (c.def.type === 'gauge' || c.def.type === 'table') {
    drawText(c, c.def, series);
    return;
  }
  const columns = columnsOf(data);
  const aligned = align(columns.cols);
  const width = Math.max(240, box.clientWidth || 600);
  const shape = columns.cols.map((col) => `${col.i}${col.key}`).join();
  if (c.plot && c.shape === shape) {
    c.plot.setData(aligned);
    return;
  }
  if (c.plot) c.plot.destroy();
  box.replaceChildren();
  c.shape = shape;
  c.plot = new window.uPlot(uplotOptions(c.def, columns, width), aligned, box);
}

async function refresh(c) {
  if (c.loading) {
    c.again = true;
    return;
  }
  c.loading = true;
  try {
    const body = await get(`/api/v1/charts/${c.def.id}/data`);
    draw(c, body.data);
    c.fig.querySelector('.chart-error').textContent = '';
  } catch (e) {
    c.fig.querySelector('.chart-error').textContent = `Could not load the data: ${e.message}`;
  } finally {
    c.loading = false;
    if (c.again) {
      c.again = false;
      refresh(c);
    }
  }
}

// Stop refreshing; with clear, the charts go from the page too.
export function stopCharts(clear = false) {
  if (clear) {
    document.getElementById('charts').replaceChildren();
    document.getElementById('charts-status').textContent = '';
  }
  generation++;
  for (const c of charts.values()) {
    clearInterval(c.timer);
    clearTimeout(c.pending);
    if (c.plot) c.plot.destroy();
  }
  charts.clear();
  if (resizer) resizer.disconnect();
}

export async function loadCharts() {
  stopCharts();
  const mine = generation;
  const status = document.getElementById('charts-status');
  const box = document.getElementById('charts');
  const body = await get('/api/v1/charts');
  if (mine !== generation) return;
  box.replaceChildren();
  status.textContent = body.data.length ? '' : 'No charts yet: make one with iot-chart add.';
  resizer = new ResizeObserver((entries) => {
    for (const e of entries) {
      const c = charts.get(Number(e.target.closest('figure').dataset.chartId));
      if (c && c.plot) c.plot.setSize({ width: Math.max(240, e.contentRect.width), height: c.plot.height });
    }
  });
  for (const def of body.data) {
    const fig = el('figure', { class: 'chart', 'data-chart-id': String(def.id), 'data-points': '0' },
      el('figcaption', {}, el('strong', { text: def.title || def.name }),
        def.description ? el('span', { class: 'muted', text: ` ${def.description}` }) : ''),
      el('div', { class: 'plot', role: 'img', 'aria-label': def.title || def.name }),
      el('p', { class: 'summary sr-only' }),
      el('p', { class: 'chart-error error', role: 'alert' }));
    box.append(fig);
    const c = { def, fig, plot: null, timer: null, pending: null, loading: false, again: false };
    charts.set(def.id, c);
    const every = Number(def.refreshInterval ?? def.refresh_interval) || 0;
    if (every > 0) c.timer = setInterval(() => refresh(c), every * 1000);
    resizer.observe(fig.querySelector('.plot'));
    refresh(c);
  }
}

// A point from the stream: charts showing its device and measurement are
// read again, at most every half second.
export function chartEvent(ev) {
  for (const c of charts.values()) {
    const devs = (c.def.devices || []).map(Number);
    const ms = c.def.measurements || [];
    const names = Object.keys(ev.data || {});
    if (!devs.includes(ev.device_id) || !names.some((n) => ms.includes(n))) continue;
    if (!c.pending) {
      c.pending = setTimeout(() => {
        c.pending = null;
        refresh(c);
      }, 500);
    }
  }
}
