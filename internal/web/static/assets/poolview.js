// One pool: its machines over time (by phase, created and destroyed), what
// is reserved of them, every machine's life with each scale-in step and its
// time, and the pool's events.

import { ApiError, enc, get } from './api.js';
import { appendCols, Chart, counts, fromZero, markLegend, poolMarker, stepped } from './charts.js';
import { change, clock, cores, dateTime, gib, h, kindClass, num, phaseBadge, replace } from './dom.js';
import { LiveView } from './liveview.js';
import { failed, flash } from './store.js';

const POLL_MS = 2000;
const KEYS = ['t', 'ready', 'booting', 'leaving', 'failed', 'need_room', 'created', 'destroyed', 'cpu_reserved', 'cpu_capacity', 'memory_reserved', 'memory_capacity', 'cpu_used'];
const SCALE_IN = ['selected', 'draining', 'drained', 'removed', 'destroyed'];

export class PoolView extends LiveView {
  constructor(name) {
    super(name);
    this.events = [];
  }

  mount(main) {
    this.head = h('div', { class: 'kv', id: 'pool-summary' });
    this.decision = h('p', { class: 'reason' });
    this.chartsEl = h('div');
    this.machinesBody = h('tbody');
    this.scaleIn = h('div', { id: 'scale-in' });
    this.eventsEl = h('ol', { class: 'events', id: 'pool-events' });
    main.append(
      h('p', null, h('a', { href: '#/' }, '← Overview')),
      h('section', { class: 'card', 'aria-labelledby': 'h-pool' },
        h('h1', { id: 'h-pool' }, 'Pool ', h('span', { class: 'mono' }, this.name)), this.head, this.decision),
      h('section', { class: 'card', 'aria-labelledby': 'h-pool-charts' },
        h('div', { class: 'chart-title' }, h('h2', { id: 'h-pool-charts' }, 'Over time'), this.rangeBar()),
        markLegend(['ordered', 'destroyed', 'scalein']),
        this.chartsEl),
      h('section', { class: 'card', 'aria-labelledby': 'h-scalein' },
        h('h2', { id: 'h-scalein' }, 'Scale-in sequences'),
        h('p', { class: 'muted' }, 'Each machine hoist removed: selected, draining, drained, removed from the cluster, destroyed (times UTC, time since the step before).'),
        this.scaleIn),
      h('div', { class: 'row' },
        h('section', { class: 'card', 'aria-labelledby': 'h-machines' },
          h('h2', { id: 'h-machines' }, 'Machines'),
          h('div', { class: 'scroll' }, h('table', { id: 'machines' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Machine'), h('th', { scope: 'col' }, 'Phase'),
              h('th', { scope: 'col' }, 'Node'), h('th', { scope: 'col', class: 'num' }, 'Reserved CPU'),
              h('th', { scope: 'col', class: 'num' }, 'Tasks'), h('th', { scope: 'col' }, 'Life'))),
            this.machinesBody))),
        h('section', { class: 'card', 'aria-labelledby': 'h-pool-events' },
          h('h2', { id: 'h-pool-events' }, 'Events'), h('div', { class: 'scroll' }, this.eventsEl))));
    this.follow('pool');
    this.load();
  }

  async load() {
    const opt = { signal: this.ctl.signal };
    try {
      const [pool, series, evs] = await Promise.all([
        get(`v1/pools/${enc(this.name)}?include_destroyed=true`, opt),
        get(`v1/pools/${enc(this.name)}/series`, opt),
        get(`v1/events?pool=${enc(this.name)}&limit=1000`, opt),
      ]);
      this.cols = appendCols({}, series, KEYS);
      this.buildCharts();
      this.addEvents(evs.events, false);
      this.render(pool);
      this.poll(POLL_MS);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        replace(this.head, h('p', { class: 'msg err', role: 'alert' }, `No pool named ${this.name}.`));
        return;
      }
      failed(e);
    }
  }

  async refresh() {
    if (this.busy || !this.cols || document.hidden) return; // a background tab polls nothing
    this.busy = true;
    const opt = { signal: this.ctl.signal };
    try {
      const last = this.cols.t.length ? this.cols.t[this.cols.t.length - 1] : null;
      const [pool, more] = await Promise.all([
        get(`v1/pools/${enc(this.name)}?include_destroyed=true`, opt),
        get(`v1/pools/${enc(this.name)}/series` + (last != null ? `?after=${last}` : ''), opt),
      ]);
      if (more.t.length) {
        appendCols(this.cols, more, KEYS, 5000);
        this.updateCharts();
      }
      this.render(pool);
    } catch (e) {
      failed(e);
    } finally {
      this.busy = false;
    }
  }

  buildCharts() {
    const box = (id, title) => {
      const el = h('div', { class: 'chart', id });
      this.chartsEl.append(h('h3', null, title), el);
      return el;
    };
    const zero = counts(3);
    this.charts.machines = new Chart(box('chart-machines', 'Machines by phase; created and destroyed since start'), {
      label: `Machines of pool ${this.name}`,
      series: [
        { label: 'ready', stroke: '#1a7f37', width: 2, paths: stepped, scale: 'n' },
        { label: 'booting', stroke: '#d4a72c', width: 2, paths: stepped, scale: 'n' },
        { label: 'leaving', stroke: '#8250df', width: 2, paths: stepped, scale: 'n' },
        { label: 'failed', stroke: '#82071e', width: 2, paths: stepped, scale: 'n' },
        { label: 'tasks needing room', stroke: '#bc4c00', fill: 'rgba(188,76,0,0.1)', width: 1, paths: stepped, scale: 'n' },
        { label: 'created (total)', stroke: '#0550ae', dash: [4, 4], width: 1, paths: stepped, scale: 'total' },
        { label: 'destroyed (total)', stroke: '#bf3989', dash: [4, 4], width: 1, paths: stepped, scale: 'total' },
      ],
      axes: [{ scale: 'n', label: 'machines / tasks' }, { scale: 'total', side: 1, label: 'machines since start', grid: { show: false } }],
      scales: { n: { range: zero }, total: { range: zero } },
    });
    this.charts.resources = new Chart(box('chart-resources', 'CPU and memory of the ready nodes: reserved, used by the tasks, total'), {
      label: `Resources of pool ${this.name}`,
      series: [
        { label: 'CPU reserved', stroke: '#0969da', width: 2, fill: 'rgba(9,105,218,0.08)', scale: 'cpu', value: (u, v) => num(v, 2) },
        { label: 'CPU used', stroke: '#1a7f37', width: 1.5, scale: 'cpu', value: (u, v) => num(v, 2) },
        { label: 'CPU total', stroke: '#1b7c83', dash: [6, 4], width: 1.5, scale: 'cpu', paths: stepped },
        { label: 'memory reserved GiB', stroke: '#8250df', width: 2, scale: 'gib', value: (u, v) => num(v, 2) },
        { label: 'memory total GiB', stroke: '#bf8700', dash: [6, 4], width: 1.5, scale: 'gib', paths: stepped },
      ],
      axes: [{ scale: 'cpu', label: 'CPU (cores)' }, { scale: 'gib', side: 1, label: 'memory (GiB)', grid: { show: false } }],
      scales: { cpu: { range: fromZero }, gib: { range: fromZero } },
    });
    this.updateCharts();
  }

  updateCharts() {
    const c = this.cols;
    const g = (col) => col.map((v) => (v == null ? null : v / 2 ** 30));
    this.charts.machines.setData([c.t, c.ready, c.booting, c.leaving, c.failed, c.need_room, c.created, c.destroyed]);
    this.charts.resources.setData([c.t, c.cpu_reserved, c.cpu_used, c.cpu_capacity, g(c.memory_reserved), g(c.memory_capacity)]);
    this.updateMarks();
  }

  updateMarks() {
    const marks = [];
    for (const ev of this.events) {
      const kind = poolMarker(ev);
      if (kind) marks.push({ t: Date.parse(ev.time) / 1000, kind, label: `${ev.machine}: ${ev.reason}` });
    }
    for (const ch of Object.values(this.charts)) ch.setMarks(marks);
  }

  addEvents(evs, fresh) {
    const known = new Set(this.events.map((e) => e.seq));
    const add = evs.filter((e) => !known.has(e.seq)).sort((a, b) => a.seq - b.seq);
    if (!add.length) return;
    this.events = this.events.concat(add).slice(-1000);
    for (const ev of add) {
      const li = h('li', { dataset: { seq: ev.seq, kind: ev.kind } },
        h('span', { class: 'mono', title: dateTime(ev.time) }, clock(ev.time)),
        h('span', { class: kindClass(ev.kind) }, ev.kind),
        h('span', { class: 'mono' }, ev.machine || ev.pool),
        h('span', null, change(ev) ? h('b', null, change(ev) + ' ') : null, ev.reason));
      this.eventsEl.prepend(li);
      if (fresh) flash(li);
    }
    while (this.eventsEl.children.length > 300) this.eventsEl.lastChild.remove();
    if (this.charts.machines) this.updateMarks();
  }

  render(p) {
    const t0 = performance.now();
    const kv = (v, label) => h('div', null, h('b', null, String(v)), h('span', null, label));
    const alive = (p.machines || []).filter((m) => m.phase !== 'destroyed');
    replace(this.head,
      kv(p.active, 'active (ordered, booting, ready)'), kv(`${p.min}–${p.max}`, 'min–max'),
      kv(p.provider, 'provider'), kv(`${cores(p.machine.cpus * 1000)} CPU, ${gib(p.machine.memory)}`, 'each machine'),
      kv(alive.length, 'machines'), kv((p.machines || []).length - alive.length, 'destroyed (last hour)'));
    this.decision.textContent = p.decision ? `Last decision: ${p.decision.action}: ${p.decision.reason}` : '';

    // Alive machines first, by name; then the destroyed, newest first.
    const ms = (p.machines || []).slice().sort((a, b) =>
      (a.phase === 'destroyed') - (b.phase === 'destroyed') || (a.phase === 'destroyed' ? Date.parse(b.since) - Date.parse(a.since) : a.name.localeCompare(b.name, 'en', { numeric: true })));
    replace(this.machinesBody, ms.map((m) => {
      const n = m.node;
      const scaled = m.history.some((c) => c.phase === 'selected');
      return h('tr', { class: scaled ? 'scalein' : null, dataset: { machine: m.name, phase: m.phase } },
        h('td', { class: 'mono' }, m.name),
        h('td', null, phaseBadge(m.phase), m.last_error ? h('div', { class: 'muted' }, m.last_error) : null),
        h('td', { class: 'mono' }, n ? `${n.id} ${n.ready ? 'ready' : 'down'}, ${n.availability}` : '–'),
        h('td', { class: 'num' }, n ? `${cores(n.reserved.milli_cpu)} / ${cores(n.capacity.milli_cpu)}` : ''),
        h('td', { class: 'num' }, n ? String(n.tasks) : ''),
        h('td', null, life(m.history)));
    }));

    const leaving = ms.filter((m) => m.history.some((c) => c.phase === 'selected'));
    replace(this.scaleIn, leaving.length ? h('table', { id: 'scale-in-table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Machine'), SCALE_IN.map((ph) => h('th', { scope: 'col' }, ph)))),
      h('tbody', null, leaving.map((m) => sequenceRow(m))))
      : h('p', { class: 'muted' }, 'No machine has been scaled in yet (in the last hour).'));
    void document.body.offsetHeight;
    window.hoistPerf.poolRender = performance.now() - t0;
  }
}

// life is a machine's phases with their times; reasons on hover.
function life(history) {
  const out = [];
  history.forEach((c, i) => {
    if (i) out.push(h('span', { class: 'arrow', 'aria-hidden': 'true' }, '→'));
    out.push(h('span', { title: c.reason || '' }, phaseBadge(c.phase), ' ', h('span', { class: 'mono' }, clock(c.time))));
  });
  return h('div', { class: 'life' }, out);
}

// sequenceRow is one scale-in: the time of each step and how long it took
// after the one before. A drain cancelled back to ready starts a new row's
// worth of steps; the last attempt is shown.
function sequenceRow(m) {
  let start = -1;
  m.history.forEach((c, i) => { if (c.phase === 'selected') start = i; });
  const steps = {};
  for (const c of m.history.slice(start)) if (SCALE_IN.includes(c.phase) && !steps[c.phase]) steps[c.phase] = c;
  let prev = null;
  const cells = SCALE_IN.map((ph) => {
    const c = steps[ph];
    if (!c) return h('td', { class: 'muted' }, '–');
    const t = Date.parse(c.time);
    const delta = prev == null ? '' : ` (+${Math.round((t - prev) / 1000)}s)`;
    prev = t;
    return h('td', { class: 'mono', title: c.reason || '' }, clock(c.time) + delta);
  });
  return h('tr', { dataset: { machine: m.name } }, h('td', { class: 'mono' }, m.name), cells);
}
