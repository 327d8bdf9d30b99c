// Time-series charts on uPlot, with the scaling events drawn on them as
// vertical markers (scale-ups, scale-downs, holds, anomalies, machines).

import uPlot from './vendor/uplot/uPlot.esm.js';
import { clock, dateTime, h } from './dom.js';

// Marker kinds: colour, dash, and how they are named in legends.
export const MARKS = {
  up: { color: '#1a7f37', dash: [], label: 'scale-up' },
  down: { color: '#0969da', dash: [], label: 'scale-down' },
  hold: { color: '#9a6700', dash: [3, 3], label: 'held' },
  anomaly: { color: '#cf222e', dash: [], label: 'anomaly' },
  ordered: { color: '#1a7f37', dash: [], label: 'machine ordered' },
  destroyed: { color: '#bf3989', dash: [], label: 'machine destroyed' },
  scalein: { color: '#8250df', dash: [3, 3], label: 'scale-in started' },
  throttle: { color: '#bf3989', dash: [1, 2], label: 'network limit' },
};

// MARK_GAP is the least distance between two markers drawn, as a share of
// the plot's width: closer events are drawn as one marker with their count
// (an hour of holds would otherwise hide the lines under a forest of them).
export const MARK_GAP = 0.02;

// RANGES are the time-range picker's choices, seconds (0: everything kept).
export const RANGES = [[900, '15 min'], [3600, '1 h'], [21600, '6 h'], [0, 'all']];
const RANGE_KEY = 'hoist.range';

export function savedRange() {
  const v = Number(sessionStorage.getItem(RANGE_KEY));
  return RANGES.some(([s]) => s === v) && sessionStorage.getItem(RANGE_KEY) != null ? v : 3600;
}

// rangePicker is the buttons that choose the time range of a page's charts;
// onPick(seconds) applies it. The choice is kept for the tab.
export function rangePicker(onPick) {
  const cur = savedRange();
  const buttons = RANGES.map(([sec, label]) => h('button', {
    type: 'button', 'aria-pressed': String(sec === cur), dataset: { range: sec },
    onclick: () => {
      sessionStorage.setItem(RANGE_KEY, String(sec));
      for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.range === String(sec)));
      onPick(sec);
    },
  }, label));
  return h('div', { class: 'range', role: 'group', 'aria-label': 'Time range', id: 'range' }, h('span', { class: 'muted' }, 'Show the last'), buttons);
}

// appMarker maps an app event to a marker kind (null: not drawn).
export function appMarker(ev) {
  switch (ev.kind) {
    case 'app.scale': return (ev.to ?? 0) >= (ev.from ?? 0) ? 'up' : 'down';
    case 'app.hold': return 'hold';
    case 'app.anomaly': return 'anomaly';
    case 'app.throttle': return 'throttle';
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
    kinds.map((k) => h('span', null, h('i', { class: 'mk-' + k }), MARKS[k].label)),
    h('span', { class: 'muted' }, 'n: events drawn as one'));
}

// clusterMarks groups marks (sorted by x) so that the groups start at least
// gap apart: each group starts at its first mark and takes every mark
// closer than gap to it. Pure: [{x, x1, marks}].
export function clusterMarks(marks, gap) {
  const out = [];
  for (const m of marks) {
    const last = out[out.length - 1];
    if (last && m.x - last.x < gap) {
      last.marks.push(m);
      last.x1 = m.x;
    } else out.push({ x: m.x, x1: m.x, marks: [m] });
  }
  return out;
}

// Scale ranges: from zero, with room above the largest value (none yet: 0..1).
export const fromZero = (u, min, max) => [0, Math.max((max ?? 0) * 1.1, 1)];
export const counts = (least) => (u, min, max) => [0, Math.max(Math.ceil(max ?? 0) + 1, least)];

const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
export const stepped = uPlot.paths.stepped({ align: 1 });

// timeTicks labels the time axis in 24 h UTC, as the tables are: hh:mm (with
// seconds below a minute's ticks), the date where the day changes.
function timeTicks(u, splits, ai, space, incr) {
  let day = null;
  const first = splits.find((v) => v != null);
  const last = splits[splits.length - 1];
  const days = first != null && last != null && new Date(first * 1e3).getUTCDate() !== new Date(last * 1e3).getUTCDate();
  return splits.map((v) => {
    if (v == null) return null;
    const d = new Date(v * 1e3);
    const t = incr < 60 ? clock(d) : clock(d).slice(0, 5);
    const dd = dateTime(d).slice(5, 10);
    const out = days && dd !== day ? `${t}\n${dd}` : t;
    day = dd;
    return out;
  });
}

export class Chart {
  // series: uPlot series options after the x one; axes: for each y scale
  // (label: what is measured and its unit).
  // bands: uPlot bands (a fill between two series); ahead: seconds of
  // future shown after the last sample (a forecast's horizon); overlay(u):
  // drawn after the series, before the markers.
  constructor(container, { label, series, axes, scales = {}, height = 220, range = savedRange(), bands = [], ahead = 0, overlay = null }) {
    this.el = container;
    this.label = label;
    this.height = height;
    this.marks = [];
    this.points = 0;
    this.range = range;
    this.ahead = ahead;
    this.overlay = overlay;
    this.window = null; // the x range last set by the picker
    container.setAttribute('role', 'img');
    // Each axis says what it measures and in which unit (tests read it too).
    container.dataset.axes = JSON.stringify(['time (UTC)', ...axes.map((a) => a.label || '')]);
    const self = this;
    const opts = {
      width: this.width(),
      height,
      tzDate: utc,
      scales: { x: { time: true }, ...scales },
      series: [{ label: 'time (UTC)', value: (u, v) => (v == null ? '–' : dateTime(v * 1000)) }, ...series],
      bands,
      axes: [{ stroke: '#59636e', grid: { stroke: '#eaeef2' }, values: timeTicks, label: 'time (UTC)', labelSize: 20, size: 44 },
        ...axes.map((a) => ({ stroke: '#59636e', grid: { stroke: '#eaeef2' }, ...a }))],
      legend: { live: true },
      cursor: {
        drag: { x: true, y: false },
        // Double-click zooms back out to the range picked, not to all data.
        bind: { dblclick: () => () => { self.window = null; self.applyRange(); return null; } },
      },
      plugins: [{
        hooks: {
          // After each draw (new data, a new range, a resize), and when the
          // cursor leaves: without a cursor the legend shows the latest values.
          draw: [(u) => { self.overlay?.(u); self.drawMarks(u); self.showLatest(); }],
          setCursor: [(u) => { if (u.cursor.idx == null) self.showLatest(); }],
        },
      }],
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
    // chart showing its range follows the new ones.
    const x = this.u.scales.x;
    const zoomed = this.window && x.min != null && (Math.abs(x.min - this.window[0]) > 1e-6 || Math.abs(x.max - this.window[1]) > 1e-6);
    this.points = cols[0].length;
    this.u.setData(cols, false);
    if (zoomed) this.u.redraw(false, true);
    else this.applyRange();
    this.describe();
  }

  // setRange shows the last sec seconds (0: all the data kept).
  setRange(sec) {
    this.range = sec;
    this.applyRange();
  }

  // setAhead shows sec seconds after the last sample as well (every chart
  // of a page the same, so their times line up).
  setAhead(sec) {
    if (sec === this.ahead) return;
    this.ahead = sec;
    this.window = null;
    this.applyRange();
  }

  applyRange() {
    const t = this.u.data[0];
    if (!t || !t.length) return;
    const last = t[t.length - 1];
    const min = this.range ? Math.max(t[0], last - this.range) : t[0];
    const max = last + (this.ahead || 0);
    this.window = [min, max > min ? max : min + 1];
    this.el.dataset.tFirst = t[0];
    this.el.dataset.tLast = last;
    this.el.dataset.ahead = this.ahead || 0;
    this.u.setScale('x', { min: this.window[0], max: this.window[1] });
    this.el.dataset.range = this.range;
  }

  // showLatest puts each series' last value in view into the legend.
  showLatest() {
    const u = this.u;
    const t = u.data[0];
    if (!t || !t.length || u.cursor.idx != null) return;
    let i1 = t.length - 1;
    const xmax = u.scales.x.max;
    while (xmax != null && i1 > 0 && t[i1] > xmax) i1--;
    const idxs = u.series.map((s, si) => {
      const col = u.data[si] || [];
      for (let i = i1; i >= 0 && i >= i1 - 50; i--) if (col[i] != null) return i;
      return i1;
    });
    if (idxs.every((v, i) => u.legend.idxs?.[i] === v)) return;
    u.setLegend({ idxs }, false);
    this.el.dataset.legendAt = t[idxs[0]];
  }

  // setMarks takes [{t (Unix s), kind, label}].
  setMarks(marks) {
    this.marks = marks.slice().sort((a, b) => a.t - b.t);
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
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const min = u.scales.x.min, max = u.scales.x.max;
    const dpr = devicePixelRatio || 1;
    const shown = [];
    for (const m of this.marks) {
      if (m.t >= min && m.t <= max) shown.push({ ...m, x: u.valToPos(m.t, 'x', true) });
    }
    const groups = clusterMarks(shown, MARK_GAP * width);
    // What was drawn, in CSS pixels from the plot's left edge (tests read it).
    this.el.dataset.drawnMarks = groups.length;
    this.el.dataset.xMin = min;
    this.el.dataset.xMax = max;
    this.el.dataset.markXs = JSON.stringify(groups.map((g) => Math.round((g.x - left) / dpr * 10) / 10));
    this.el.dataset.plotWidth = Math.round(width / dpr);
    if (!groups.length) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (const g of groups) {
      // The group's kind is its most frequent one.
      const n = {};
      for (const m of g.marks) n[m.kind] = (n[m.kind] || 0) + 1;
      const kind = Object.keys(n).sort((a, b) => n[b] - n[a])[0];
      const style = MARKS[kind];
      const x = Math.round(g.x);
      ctx.strokeStyle = style.color;
      ctx.fillStyle = style.color;
      if (g.marks.length > 1 && g.x1 > g.x) {
        // A faint band over the events drawn as one.
        ctx.globalAlpha = 0.07;
        ctx.fillRect(x, top, Math.max(1, g.x1 - g.x), height);
      }
      // A thin, light line: the series stay readable under many markers.
      ctx.globalAlpha = 0.45;
      ctx.lineWidth = dpr;
      ctx.setLineDash(style.dash.map((d) => d * dpr));
      ctx.beginPath();
      ctx.moveTo(x + 0.5, top);
      ctx.lineTo(x + 0.5, top + height);
      ctx.stroke();
      // A small flag at the top tells the kinds apart without colour too.
      ctx.globalAlpha = 1;
      const s = 4 * dpr;
      ctx.setLineDash([]);
      ctx.beginPath();
      if (kind === 'down' || kind === 'destroyed') {
        ctx.moveTo(x - s, top); ctx.lineTo(x + s, top); ctx.lineTo(x, top + s * 1.4);
      } else if (kind === 'anomaly') {
        ctx.moveTo(x, top); ctx.lineTo(x + s, top + s); ctx.lineTo(x, top + 2 * s); ctx.lineTo(x - s, top + s);
      } else if (kind === 'hold') {
        ctx.rect(x - s * 0.6, top, s * 1.2, s * 1.2);
      } else if (kind === 'throttle') {
        ctx.rect(x - s, top, s * 2, s * 0.7); // a bar: the flow capped
      } else {
        ctx.moveTo(x, top); ctx.lineTo(x + s, top + s * 1.4); ctx.lineTo(x - s, top + s * 1.4);
      }
      ctx.closePath();
      ctx.fill();
      if (g.marks.length > 1) {
        ctx.font = `${10 * dpr}px system-ui, sans-serif`;
        ctx.textBaseline = 'top';
        ctx.fillText(String(g.marks.length), x + s + dpr, top);
      }
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
