// The overview: pools and their machines, every app's replicas and main
// metric against its target, and the latest events, kept live from the event
// stream (a refresh follows each burst of events) and a light poll (replicas
// become running without an event).

import { enc, get } from './api.js';
import { bar, change, clock, cores, dateTime, gib, h, kindClass, num, phaseBadge, replace, setBar, si, subject } from './dom.js';
import { failed, flash, store } from './store.js';

const POLL_MS = 2000;
const EVENTS_SHOWN = 60;
const natural = new Intl.Collator('en', { numeric: true });
const PHASES = ['ordered', 'booting', 'ready', 'selected', 'draining', 'drained', 'removed', 'failed'];

export class OverviewView {
  constructor() {
    this.rows = new Map(); // app -> {tr, cells, sig}
    this.poolCards = new Map(); // pool -> {card, parts, chips: Map}
    this.filter = '';
    this.timer = null;
    this.pending = null;
    this.busy = false;
    this.again = false;
    this.first = true;
    this.ctl = new AbortController();
  }

  mount(main) {
    this.filterInput = h('input', { id: 'app-filter', type: 'search', placeholder: 'name contains…', autocomplete: 'off' });
    this.filterInput.addEventListener('input', () => { this.filter = this.filterInput.value.trim().toLowerCase(); this.applyFilter(); });
    this.appCount = h('span', { class: 'muted' });
    this.tbody = h('tbody');
    this.poolsEl = h('div', { id: 'pools' });
    this.eventsEl = h('ol', { class: 'events', id: 'events', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    this.summary = h('div', { class: 'kv', id: 'summary' });
    main.append(
      h('section', { class: 'card', 'aria-labelledby': 'h-summary' }, h('h1', { id: 'h-summary' }, 'Cluster'), this.summary),
      h('section', { 'aria-labelledby': 'h-pools' }, h('h2', { id: 'h-pools' }, 'Pools and machines'), this.poolsEl),
      h('div', { class: 'row' },
        h('section', { class: 'card wide', 'aria-labelledby': 'h-apps' },
          h('div', { class: 'chart-title' }, h('h2', { id: 'h-apps' }, 'Applications'), this.appCount),
          h('div', { class: 'filter' }, h('label', { for: 'app-filter' }, 'Filter'), this.filterInput),
          h('div', { class: 'scroll' },
            h('table', { id: 'apps' },
              h('caption', { class: 'skip' }, 'Applications: replicas, bounds, main metric and last decision'),
              h('thead', null, h('tr', null,
                h('th', { scope: 'col' }, 'App'),
                h('th', { scope: 'col', class: 'num' }, 'Running / desired'),
                h('th', { scope: 'col', class: 'num' }, 'Pending'),
                h('th', { scope: 'col', class: 'num' }, 'Min–max'),
                h('th', { scope: 'col' }, 'Metric vs target'),
                h('th', { scope: 'col', class: 'num' }, 'Load'),
                h('th', { scope: 'col' }, 'Last decision'))),
              this.tbody))),
        h('section', { class: 'card', 'aria-labelledby': 'h-events' },
          h('h2', { id: 'h-events' }, 'Events'),
          h('div', { class: 'scroll' }, this.eventsEl))));
    this.unsub = store.on((ev) => this.onEvent(ev));
    this.loadEvents();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  unmount() {
    clearInterval(this.timer);
    clearTimeout(this.pending);
    this.unsub?.();
    this.ctl.abort();
  }

  async loadEvents() {
    try {
      const page = await get(`v1/events?limit=${EVENTS_SHOWN}`, { signal: this.ctl.signal });
      // Events streamed meanwhile are already shown; add only older ones.
      const shown = new Set([...this.eventsEl.children].map((li) => li.dataset.seq));
      for (const ev of page.events) {
        if (!shown.has(String(ev.seq)) && ev.seq <= store.lastSeq) this.eventsEl.prepend(eventItem(ev, false));
      }
      this.sortEvents();
    } catch (e) { failed(e); }
  }

  sortEvents() {
    const items = [...this.eventsEl.children].sort((a, b) => b.dataset.seq - a.dataset.seq);
    this.eventsEl.replaceChildren(...items.slice(0, EVENTS_SHOWN));
  }

  onEvent(ev) {
    const t0 = performance.now();
    this.eventsEl.prepend(eventItem(ev, true));
    while (this.eventsEl.children.length > EVENTS_SHOWN) this.eventsEl.lastChild.remove();
    const perf = window.hoistPerf.events;
    perf.push(performance.now() - t0);
    if (perf.length > 200) perf.shift();
    // One refresh per burst of events.
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refresh(), 250);
  }

  async refresh() {
    if (document.hidden && !this.first) return; // a background tab polls nothing
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      const opt = { signal: this.ctl.signal };
      const [latest, apps, pools] = await Promise.all([get('v1/series', opt), get('v1/apps', opt), get('v1/pools', opt)]);
      const full = await Promise.all(pools.pools.map((p) => get(`v1/pools/${enc(p.name)}`, opt)));
      const t0 = performance.now();
      this.render(latest, apps.apps, full);
      void document.body.offsetHeight; // include style and layout in the figure
      const took = performance.now() - t0;
      const perf = window.hoistPerf;
      if (this.first) {
        this.first = false;
        if (perf.firstRender == null) {
          perf.firstRender = took;
          perf.firstRenderAt = performance.now(); // since navigation start, fetches included
          perf.apps = apps.apps.length;
          perf.machines = full.reduce((n, p) => n + (p.machines || []).length, 0);
        }
      } else {
        perf.updates.push(took);
        if (perf.updates.length > 200) perf.updates.shift();
      }
    } catch (e) {
      failed(e);
    } finally {
      this.busy = false;
      if (this.again) { this.again = false; this.refresh(); }
    }
  }

  render(latest, apps, pools) {
    store.setClock(latest.time);
    let machines = 0, ready = 0, pending = 0, running = 0;
    for (const p of pools) for (const m of p.machines || []) { machines++; if (m.phase === 'ready') ready++; }
    for (const a of apps) { pending += a.replicas?.pending || 0; running += a.replicas?.running || 0; }
    replace(this.summary,
      kv(apps.length, 'apps'), kv(running, 'replicas running'), kv(pending, 'tasks pending'),
      kv(machines, 'machines'), kv(ready, 'ready'), kv(pools.length, 'pools'));
    this.renderPools(pools, latest);
    this.renderApps(latest, apps);
  }

  renderPools(pools, latest) {
    const seen = new Set();
    for (const p of pools) {
      seen.add(p.name);
      let pc = this.poolCards.get(p.name);
      if (!pc) {
        pc = poolCard(p);
        this.poolCards.set(p.name, pc);
        this.poolsEl.append(pc.card);
      }
      updatePoolCard(pc, p, latest.pools?.[p.name]);
    }
    for (const [name, pc] of this.poolCards) if (!seen.has(name)) { pc.card.remove(); this.poolCards.delete(name); }
  }

  renderApps(latest, apps) {
    const seen = new Set();
    const names = apps.map((a) => a.name).sort();
    const byName = new Map(apps.map((a) => [a.name, a]));
    let prev = null;
    for (const name of names) {
      seen.add(name);
      const a = byName.get(name);
      const l = latest.apps?.[name];
      let row = this.rows.get(name);
      if (!row) {
        row = appRow(name);
        this.rows.set(name, row);
        if (prev) prev.tr.after(row.tr); else this.tbody.prepend(row.tr);
        row.tr.hidden = !!this.filter && !name.toLowerCase().includes(this.filter);
      }
      updateAppRow(row, a, l);
      prev = row;
    }
    for (const [name, row] of this.rows) if (!seen.has(name)) { row.tr.remove(); this.rows.delete(name); }
    this.appCount.textContent = `${apps.length} apps`;
  }

  applyFilter() {
    for (const [name, row] of this.rows) row.tr.hidden = !!this.filter && !name.toLowerCase().includes(this.filter);
  }
}

function kv(v, label) {
  return h('div', null, h('b', null, String(v)), h('span', null, label));
}

export function eventItem(ev, fresh) {
  const li = h('li', { dataset: { seq: ev.seq, kind: ev.kind } },
    h('span', { class: 'mono', title: dateTime(ev.time) }, clock(ev.time)),
    h('span', { class: kindClass(ev.kind) }, ev.kind),
    h('span', { class: 'mono' }, subjectLink(ev)),
    h('span', null, change(ev) ? h('b', null, change(ev) + ' ') : null, ev.reason));
  if (fresh) flash(li);
  return li;
}

function subjectLink(ev) {
  if (ev.app) return h('a', { href: `#/apps/${enc(ev.app)}` }, ev.app);
  if (ev.pool && !ev.machine) return h('a', { href: `#/pools/${enc(ev.pool)}` }, ev.pool);
  if (ev.pool && ev.machine) return h('a', { href: `#/pools/${enc(ev.pool)}`, title: 'pool ' + ev.pool }, ev.machine);
  return subject(ev);
}

function poolCard(p) {
  const parts = {
    title: h('span'), phases: h('span'), reason: h('p', { class: 'reason' }),
    cpu: bar(0), cpuText: h('span', { class: 'num mono' }), mem: bar(0), memText: h('span', { class: 'num mono' }),
    grid: h('div', { class: 'machines', role: 'list', 'aria-label': `Machines of pool ${p.name}` }),
  };
  const card = h('section', { class: 'card pool', dataset: { pool: p.name }, 'aria-label': `Pool ${p.name}` },
    h('div', { class: 'chart-title' },
      h('h3', null, h('a', { href: `#/pools/${enc(p.name)}` }, p.name), ' ', parts.title),
      parts.phases),
    h('div', { class: 'meter' }, h('span', null, 'CPU'), parts.cpu, parts.cpuText),
    h('div', { class: 'meter' }, h('span', null, 'Memory'), parts.mem, parts.memText),
    parts.reason,
    parts.grid);
  return { card, parts, chips: new Map() };
}

function updatePoolCard(pc, p, l) {
  const { parts } = pc;
  parts.title.textContent = `${p.provider} · ${p.active} active (min ${p.min}, max ${p.max}) · ${cores(p.machine.cpus * 1000)} CPU, ${gib(p.machine.memory)} each`;
  replace(parts.phases, PHASES.filter((ph) => p.phases?.[ph]).map((ph) => [phaseBadge(`${ph}`), ` ${p.phases[ph]} `]));
  parts.reason.textContent = p.decision ? `${p.decision.action}: ${p.decision.reason}` : '';
  let cpuR = 0, cpuC = 0, memR = 0, memC = 0;
  const seen = new Set();
  let added = false;
  const machines = (p.machines || []).slice().sort((a, b) => natural.compare(a.name, b.name));
  for (const m of machines) {
    seen.add(m.name);
    const n = m.node;
    if (n && n.ready && m.phase !== 'destroyed') {
      cpuR += n.reserved.milli_cpu; cpuC += n.capacity.milli_cpu; memR += n.reserved.memory; memC += n.capacity.memory;
    }
    let chip = pc.chips.get(m.name);
    if (!chip) {
      chip = { el: h('div', { class: 'machine', role: 'listitem' }), sig: '' };
      pc.chips.set(m.name, chip);
      pc.parts.grid.append(chip.el);
      added = true;
    }
    const share = n && n.capacity.milli_cpu ? n.reserved.milli_cpu / n.capacity.milli_cpu : 0;
    const sig = `${m.phase}|${share}|${n?.tasks}|${n?.availability}`;
    if (sig !== chip.sig) {
      chip.sig = sig;
      const label = n ? `${cores(n.reserved.milli_cpu)} of ${cores(n.capacity.milli_cpu)} CPU reserved, ${n.tasks} tasks` : 'no node';
      chip.el.dataset.phase = m.phase;
      chip.el.title = `${m.name}: ${m.phase} since ${clock(m.since)} UTC; ${label}`;
      replace(chip.el, h('span', { class: 'name' }, m.name), phaseBadge(m.phase), n ? ` ${n.tasks} tasks` : '', bar(share, { label }));
    }
  }
  for (const [name, chip] of pc.chips) if (!seen.has(name)) { chip.el.remove(); pc.chips.delete(name); }
  if (added) pc.parts.grid.replaceChildren(...machines.map((m) => pc.chips.get(m.name).el));
  setBar(parts.cpu, cpuC ? cpuR / cpuC : 0, { label: 'CPU reserved', hot: cpuC && cpuR / cpuC > 0.9 });
  // Reserved is what Swarm placed by; used, what the tasks burn (when known).
  const used = l?.cpu_used;
  parts.cpuText.textContent = `${cores(cpuR)} / ${cores(cpuC)} cores reserved` + (used != null ? ` · ${cores(Math.round(used * 1000))} used` : '');
  parts.cpuText.dataset.used = used ?? '';
  setBar(parts.mem, memC ? memR / memC : 0, { label: 'memory reserved', hot: memC && memR / memC > 0.9 });
  parts.memText.textContent = `${gib(memR)} / ${gib(memC)} reserved`;
}

function appRow(name) {
  const cells = {
    name: h('td', null, h('a', { href: `#/apps/${enc(name)}` }, name)),
    replicas: h('td', { class: 'num' }), pending: h('td', { class: 'num' }), bounds: h('td', { class: 'num' }),
    metric: h('td'), load: h('td', { class: 'num' }), decision: h('td', { class: 'reason' }),
  };
  // A network limit in force, beside the name.
  cells.limit = h('span', { class: 'badge limit', hidden: true });
  cells.name.append(' ', cells.limit);
  cells.metricText = h('span', { class: 'mono' });
  cells.metricBar = bar(0);
  cells.metric.append(cells.metricText, cells.metricBar);
  const tr = h('tr', { dataset: { app: name } }, Object.values(cells).filter((c) => c.tagName === 'TD'));
  return { tr, cells, sig: '' };
}

function updateAppRow(row, a, l) {
  const r = a.replicas || {};
  const d = a.decision || {};
  const value = l?.value, target = l?.target, upper = l?.upper, fcUpper = l?.forecast_upper;
  const lim = a.throttle;
  const sig = [r.running, r.desired, r.pending, r.starting, d.min, d.max, l?.metric, value, target, upper, fcUpper, l?.offered, d.action, d.reason,
    lim ? `${lim.limit.rate}@${lim.until}` : ''].join('|');
  if (sig === row.sig) return;
  const first = row.sig === '';
  row.sig = sig;
  const c = row.cells;
  row.tr.dataset.running = r.running ?? '';
  row.tr.dataset.desired = r.desired ?? '';
  c.replicas.textContent = r.desired == null ? '–' : `${r.running} / ${r.desired}` + (r.starting ? ` (+${r.starting} starting)` : '');
  c.pending.textContent = r.pending ? String(r.pending) : '';
  c.bounds.textContent = d.min == null ? '–' : `${d.min}–${d.max}`;
  c.limit.hidden = !lim;
  c.limit.textContent = lim ? `limited ${si(lim.limit.rate)}bit/s` : '';
  c.limit.title = lim ? `network limit of ${lim.tasks?.length ? lim.tasks.join(', ') : 'every running task'} until ${clock(lim.until)} UTC, by ${lim.by}` : '';
  if (l && value != null && fcUpper != null) {
    // A predictive policy: the request rate against its forecast's upper
    // bound over the horizon.
    c.metricText.textContent = `rate ${num(value, 0)} req/s / forecast ≤ ${num(fcUpper, 0)}`;
    setBar(c.metricBar, value / (fcUpper * 2 || 1), { mark: 0.5, hot: value > fcUpper, label: c.metricText.textContent });
  } else if (l && value != null) {
    const ref = target ?? upper;
    c.metricText.textContent = `${l.metric} ${num(value)}` + (target != null ? ` / target ${num(target)}` : upper != null ? ` / upper ${num(upper)}` : '');
    const scale = ref ? ref * 2 : 100;
    setBar(c.metricBar, value / scale, { mark: ref ? ref / scale : null, hot: ref != null && value > ref, label: c.metricText.textContent });
  } else {
    c.metricText.textContent = l?.metric ? `${l.metric}: no data` : '–';
    setBar(c.metricBar, 0, { label: c.metricText.textContent });
  }
  c.load.textContent = l?.offered != null ? `${num(l.offered, 0)} rps` : '';
  replace(c.decision, d.action ? h('span', { class: `badge act-${d.action}` }, d.action) : '', ' ', d.reason || '');
  if (!first) flash(row.tr);
}
