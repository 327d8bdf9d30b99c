// Time-series charts on uPlot, with the scaling events drawn on them as
// vertical markers (scale-ups, scale-downs, holds, anomalies, machines).

import uPlot from './vendor/uplot/uPlot.esm.js';
import { dateTime, h } from './dom.js';

// Marker kinds: colour, dash, and how they are named in legends.
export const MARKS = {
  up: { color: '#1a7f37', dash: [], label: 'scale-up' },
  down: { color: '#0969da', dash: [], label: 'scale-down' },
  hold: { color: '#d4a72c', dash: [3, 3], label: 'held' },
  anomaly: { color: '#cf222e', dash: [], label: 'anomaly' },
  ordered: { color: '#1a7f37', dash: [], label: 'machine ordered' },
  destroyed: { color: '#cf222e', dash: [], label: 'machine destroyed' },
  scalein: { color: '#8250df', dash: [3, 3], label: 'scale-in started' },
};

// appMarker maps an app event to a marker kind (null: not drawn).
export function appMarker(ev) {
  switch (ev.kind) {
    case 'app.scale': return (ev.to ?? 0) >= (ev.from ?? 0) ? 'up' : 'down';
    case 'app.hold': return 'hold';
    case 'app.anomaly': return 'anomaly';
  }
  return null;
}

export function poolMarker(ev) {
  switch (ev.kind) {
    case 'machine.ordered': return 'ordered';
    case 'machine.destroyed': return 'destroyed';
    case 'machine.selected': return 'scalein';
  }
  return null;
}

export function markLegend(kinds) {
  return h('div', { class: 'legend-marks', 'aria-label': 'Markers' },
    kinds.map((k) => h('span', null, h('i', { class: 'mk-' + k }), MARKS[k].label)));
}

// Scale ranges: from zero, with room above the largest value (none yet: 0..1).
export const fromZero = (u, min, max) => [0, Math.max((max ?? 0) * 1.1, 1)];
export const counts = (least) => (u, min, max) => [0, Math.max(Math.ceil(max ?? 0) + 1, least)];

const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
export const stepped = uPlot.paths.stepped({ align: 1 });

export class Chart {
  // series: uPlot series options after the x one; axes: for each y scale.
  constructor(container, { label, series, axes, scales = {}, height = 220 }) {
    this.el = container;
    this.label = label;
    this.height = height;
    this.marks = [];
    this.points = 0;
    container.setAttribute('role', 'img');
    const self = this;
    const opts = {
      width: this.width(),
      height,
      tzDate: utc,
      scales: { x: { time: true }, ...scales },
      series: [{ label: 'time (UTC)', value: (u, v) => (v == null ? '–' : dateTime(v * 1000)) }, ...series],
      axes: [{ stroke: '#59636e', grid: { stroke: '#eaeef2' } }, ...axes.map((a) => ({ stroke: '#59636e', grid: { stroke: '#eaeef2' }, ...a }))],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      plugins: [{ hooks: { draw: [(u) => self.drawMarks(u)] } }],
    };
    this.u = new uPlot(opts, series.map(() => []).concat([[]]), container);
    this.ro = new ResizeObserver(() => {
      const w = this.width();
      if (Math.abs(w - this.u.width) > 2) this.u.setSize({ width: w, height: this.height });
    });
    this.ro.observe(container);
    this.describe();
  }

  width() { return Math.max(280, this.el.clientWidth || 600); }

  setData(cols) {
    // A user who zoomed in (drag) keeps the view while samples arrive; a
    // chart showing all its data follows the new ones.
    const t = this.u.data[0];
    const x = this.u.scales.x;
    const zoomed = t && t.length > 1 && x.min != null && (x.min > t[0] + 1e-6 || x.max < t[t.length - 1] - 1e-6);
    this.points = cols[0].length;
    this.u.setData(cols, !zoomed);
    if (zoomed) this.u.redraw(false, true);
    this.describe();
  }

  // setMarks takes [{t (Unix s), kind, label}].
  setMarks(marks) {
    this.marks = marks;
    const counts = {};
    for (const m of marks) counts[m.kind] = (counts[m.kind] || 0) + 1;
    for (const k of Object.keys(MARKS)) this.el.dataset['marks' + k[0].toUpperCase() + k.slice(1)] = counts[k] || 0;
    this.u.redraw(false, false);
    this.describe();
  }

  describe() {
    this.el.dataset.points = this.points;
    // The largest value of each series, for people (the label) and tests.
    const max = {};
    this.u.series.forEach((s, i) => {
      if (!i) return;
      let m = null;
      for (const v of this.u.data[i] || []) if (v != null && (m == null || v > m)) m = v;
      max[s.label] = m;
    });
    this.el.dataset.max = JSON.stringify(max);
    const n = this.marks.length;
    this.el.setAttribute('aria-label', `${this.label}: ${this.points} samples, ${n} event markers`);
  }

  drawMarks(u) {
    if (!this.marks.length) return;
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const min = u.scales.x.min, max = u.scales.x.max;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (const m of this.marks) {
      if (m.t < min || m.t > max) continue;
      const style = MARKS[m.kind];
      const x = Math.round(u.valToPos(m.t, 'x', true));
      ctx.strokeStyle = style.color;
      ctx.fillStyle = style.color;
      ctx.lineWidth = (m.kind === 'hold' ? 1 : 1.5) * dpr;
      ctx.setLineDash(style.dash.map((d) => d * dpr));
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      // A small flag at the top tells the kinds apart without colour too.
      const s = 5 * dpr;
      ctx.setLineDash([]);
      ctx.beginPath();
      if (m.kind === 'down' || m.kind === 'destroyed') {
        ctx.moveTo(x - s, top); ctx.lineTo(x + s, top); ctx.lineTo(x, top + s * 1.4);
      } else if (m.kind === 'anomaly') {
        ctx.moveTo(x, top); ctx.lineTo(x + s, top + s); ctx.lineTo(x, top + 2 * s); ctx.lineTo(x - s, top + s);
      } else if (m.kind !== 'hold') {
        ctx.moveTo(x, top); ctx.lineTo(x + s, top + s * 1.4); ctx.lineTo(x - s, top + s * 1.4);
      }
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
  }

  destroy() {
    this.ro.disconnect();
    this.u.destroy();
  }
}

// Column helpers: appending a later page of samples to the columns held.
export function appendCols(have, more, keys, limit) {
  for (const k of keys) {
    have[k] = (have[k] || []).concat(more[k] || []);
    if (limit && have[k].length > limit) have[k] = have[k].slice(have[k].length - limit);
  }
  return have;
}
