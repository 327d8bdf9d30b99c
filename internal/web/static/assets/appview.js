// One application: its charts over time with the scaling events on them, the
// decision history with reasons, and its policy, which an operator edits here.

import { ApiError, del, enc, get, post, put } from './api.js';
import { appendCols, appMarker, Chart, counts, fromZero, markLegend, rangePicker, stepped } from './charts.js';
import { bytes, change, clock, dateTime, duration, h, kindClass, num, replace, si } from './dom.js';
import { LiveView } from './liveview.js';
import { failed, flash, store } from './store.js';

const POLL_MS = 2000;
const HISTORY = 500;
// The unit of each built-in metric, for the axes and legends.
const UNITS = {
  cpu: '% of the limit',
  memory: '% of the limit',
  rps: 'req/s per replica',
  latency_p95: 'ms',
  lb_rps: 'req/s per replica',
  lb_connections: 'connections per replica',
  lb_queue: 'requests waiting',
  lb_latency: 'ms',
};

const SERIES_KEYS = ['t', 'desired', 'running', 'pending', 'starting', 'min', 'max', 'wanted', 'value', 'target', 'upper', 'lower', 'offered', 'p95_ms', 'cpu',
  'rate', 'forecast', 'forecast_upper', 'net_rx', 'net_tx'];

// Colours of the load chart's forecast: the point forecast and the band up
// to its upper quantile.
const FC_POINT = '#bc4c00';
const FC_UPPER = '#8250df';
const FC_BAND = 'rgba(130, 80, 223, 0.16)';

// Editable fields of each policy type: [field, label, kind].
const POLICY_FIELDS = {
  target: [['target', 'Target', 'float'], ['tolerance', 'Tolerance (0.1 = 10 %)', 'float'], ['window', 'Window', 'duration']],
  threshold: [['upper', 'Upper', 'float'], ['lower', 'Lower', 'float'], ['for', 'For', 'duration'], ['step_up', 'Step up', 'int'], ['step_down', 'Step down', 'int']],
  alert: [['upper', 'Upper', 'float'], ['lower', 'Lower', 'float'], ['for', 'For', 'duration'], ['step_up', 'Step up', 'int'], ['step_down', 'Step down', 'int']],
};

export class AppView extends LiveView {
  constructor(name) {
    super(name);
    this.cols = null;
    this.history = [];
    this.dirty = false;
  }

  mount(main) {
    const n = this.name;
    this.head = h('div', { class: 'kv', id: 'app-summary' });
    this.decision = h('div', { id: 'decision' });
    this.forecastEl = h('div', { id: 'forecast', class: 'forecast', hidden: true });
    this.throttleState = h('div');
    this.throttleFormEl = h('div');
    this.throttleEl = h('div', { id: 'throttle' }, this.throttleState, this.throttleFormEl);
    this.throttleMsg = h('p', { id: 'throttle-msg', class: 'msg', role: 'status', hidden: true });
    this.throttleCard = h('section', { class: 'card', 'aria-labelledby': 'h-throttle', id: 'throttle-card', hidden: true },
      h('h2', { id: 'h-throttle' }, 'Network limit'), this.throttleEl, this.throttleMsg);
    this.chartsEl = h('div', { id: 'charts' });
    this.historyBody = h('tbody');
    this.formEl = h('div', { id: 'policy' });
    // The message outlives the form, which is rebuilt after a save.
    this.msg = h('p', { id: 'policy-msg', class: 'msg', role: 'status' });
    main.append(
      h('p', null, h('a', { href: '#/' }, '← Overview')),
      h('section', { class: 'card', 'aria-labelledby': 'h-app' },
        h('h1', { id: 'h-app' }, 'App ', h('span', { class: 'mono' }, n)),
        this.head, this.forecastEl, this.decision),
      h('section', { class: 'card', 'aria-labelledby': 'h-charts' },
        h('div', { class: 'chart-title' }, h('h2', { id: 'h-charts' }, 'Over time'), this.rangeBar()),
        markLegend(['up', 'down', 'hold', 'anomaly', 'throttle']),
        this.chartsEl),
      this.throttleCard,
      h('div', { class: 'row' },
        h('section', { class: 'card', 'aria-labelledby': 'h-policy' }, h('h2', { id: 'h-policy' }, 'Policy'), this.formEl, this.msg),
        h('section', { class: 'card', 'aria-labelledby': 'h-history' },
          h('h2', { id: 'h-history' }, 'Decision history'),
          h('div', { class: 'scroll' },
            h('table', { id: 'history' },
              h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Time (UTC)'), h('th', { scope: 'col' }, 'Kind'),
                h('th', { scope: 'col', class: 'num' }, 'Replicas'), h('th', { scope: 'col' }, 'Reason'))),
              this.historyBody)))));
    this.follow('app');
    this.load();
  }

  async load() {
    const opt = { signal: this.ctl.signal };
    try {
      const [app, series, evs, thr] = await Promise.all([
        get(`v1/apps/${enc(this.name)}`, opt),
        get(`v1/apps/${enc(this.name)}/series`, opt),
        get(`v1/events?app=${enc(this.name)}&limit=${HISTORY}`, opt),
        this.getThrottle(opt),
      ]);
      const t0 = performance.now();
      this.app = app;
      this.throttle = thr;
      this.cols = appendCols({}, series, SERIES_KEYS);
      this.metric = series.metric;
      this.buildCharts();
      this.addEvents(evs.events, false);
      this.renderApp();
      this.renderThrottle();
      this.buildForm();
      void document.body.offsetHeight;
      window.hoistPerf.appRender = performance.now() - t0;
      this.poll(POLL_MS);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        replace(this.head, h('p', { class: 'msg err', role: 'alert' }, `No app named ${this.name}.`));
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
      const gen = this.throttleGen;
      const [app, more, thr] = await Promise.all([
        get(`v1/apps/${enc(this.name)}`, opt),
        get(`v1/apps/${enc(this.name)}/series` + (last != null ? `?after=${last}` : ''), opt),
        this.getThrottle(opt),
      ]);
      this.app = app;
      // A limit set or lifted from this page meanwhile is newer than thr.
      if (gen === this.throttleGen) this.throttle = thr;
      if (more.t.length) {
        appendCols(this.cols, more, SERIES_KEYS, 5000);
        this.metric = more.metric || this.metric;
        this.updateCharts();
      }
      this.renderApp();
      this.renderThrottle();
      // The window in force follows the cluster's clock.
      for (const sc of this.schedules || []) {
        const next = scheduleTable(sc.p, this.now());
        sc.table.replaceWith(next);
        sc.table = next;
      }
      // The spec changed elsewhere (another operator, a reload): show it,
      // unless the user is editing.
      if (!this.dirty && this.specKey !== this.formKey() && !this.formEl.contains(document.activeElement)) this.buildForm();
    } catch (e) {
      failed(e);
    } finally {
      this.busy = false;
    }
  }

  renderApp() {
    const a = this.app;
    const r = a.replicas || {};
    const d = a.decision || {};
    const kv = (v, label) => h('div', null, h('b', null, String(v)), h('span', null, label));
    replace(this.head,
      kv(r.running ?? '–', 'running'), kv(r.desired ?? '–', 'desired'), kv(r.pending ?? 0, 'pending'),
      kv(d.min != null ? `${d.min}–${d.max}` : '–', 'min–max in force'),
      kv(a.source + (a.overridden ? ' + override' : ''), 'policy from'),
      kv(a.image, 'image'),
      this.limitSummary());
    const votes = (d.votes || []).map((v) => h('li', null,
      h('span', { class: 'mono' }, `policies[${v.policy}] ${v.type}${v.metric ? ' on ' + v.metric : ''}`), ': ',
      v.has_value ? `${num(v.value)} → ${v.replicas} replicas. ` : 'no data. ', h('span', { class: 'muted' }, v.reason)));
    const why = r.pending_reasons?.length ? h('p', { class: 'muted' }, 'Pending because: ' + r.pending_reasons.join('; ')) : null;
    this.renderForecast(d.forecast);
    replace(this.decision,
      d.action ? h('p', null, 'Last decision: ', h('span', { class: `badge act-${d.action}` }, d.action), ' ', d.reason) : h('p', { class: 'muted' }, 'No decision yet.'),
      votes.length ? h('ul', { class: 'votes' }, votes) : null, why);
  }

  // buildCharts makes the charts that this app's data can fill.
  buildCharts() {
    const c = this.cols;
    const has = (k) => c[k].some((v) => v != null);
    const policies = this.app.spec?.policies || [];
    const main = policies.find((p) => p.type !== 'schedule');
    const label = this.metric || main?.metric || main?.query || 'metric';
    const unit = main?.metric ? UNITS[main.metric] : main?.query ? 'the query\'s value' : '';
    const axis = unit ? `${label} (${unit})` : label;
    const box = (id, title) => {
      const el = h('div', { class: 'chart', id });
      const head = h('h3', { id: id + '-title' }, title);
      this.chartsEl.append(head, el);
      return el;
    };
    // A predictive policy's metric is the request rate: the load chart
    // draws it with the forecast.
    if (main && main.type !== 'predictive') {
      const series = [{ label, scale: 'y', stroke: '#0969da', width: 2, value: (u, v) => num(v) }];
      this.metricKeys = ['value'];
      if (main.type === 'target') {
        series.push({ label: 'target', scale: 'y', stroke: '#1a7f37', dash: [6, 4], width: 1.5 });
        this.metricKeys.push('target');
      } else {
        series.push({ label: 'upper', scale: 'y', stroke: '#cf222e', dash: [6, 4], width: 1.5 }, { label: 'lower', scale: 'y', stroke: '#8250df', dash: [6, 4], width: 1.5 });
        this.metricKeys.push('upper', 'lower');
      }
      this.charts.metric = new Chart(box('chart-metric', `${axis} vs ${main.type === 'target' ? 'target' : 'thresholds'} (policies[${policies.indexOf(main)}], ${main.type})`),
        { label: `${label} of ${this.name}`, series, axes: [{ scale: 'y', label: axis }], scales: { y: { range: fromZero } } });
    }
    this.charts.replicas = new Chart(box('chart-replicas', 'Replicas: desired vs running, pending tasks'), {
      label: `Replicas of ${this.name}`,
      series: [
        { label: 'running', scale: 'n', stroke: '#1a7f37', width: 2, paths: stepped },
        { label: 'desired', scale: 'n', stroke: '#0969da', width: 2, paths: stepped },
        { label: 'wanted by policies', scale: 'n', stroke: '#9a6700', dash: [3, 3], width: 1.5, paths: stepped },
        { label: 'pending', scale: 'n', stroke: '#cf222e', fill: 'rgba(207,34,46,0.12)', width: 1.5, paths: stepped },
        { label: 'min', scale: 'n', stroke: '#8c959f', dash: [2, 4], width: 1, paths: stepped },
        { label: 'max', scale: 'n', stroke: '#8c959f', dash: [8, 4], width: 1, paths: stepped },
      ],
      axes: [{ scale: 'n', label: 'replicas (tasks)' }],
      scales: { n: { range: counts(4) } },
    });
    // A predictive policy forecasts from its first ticks on: its series are
    // drawn from the start, empty until then.
    this.hasForecast = has('forecast') || policies.some((p) => p.type === 'predictive');
    if (has('offered') || has('rate') || this.hasForecast) {
      // The simulator knows the load offered; on Swarm it is the rate the
      // replicas served, as the collector scraped it (else the rate the
      // predictive policy observed).
      const series = [
        { label: 'load req/s', stroke: '#0969da', width: 2, scale: 'rps', value: (u, v) => num(v, 0) },
        { label: 'p95 ms', stroke: '#cf222e', width: 1, scale: 'ms', value: (u, v) => num(v, 0) },
      ];
      let title = 'Load (requests/s, all replicas) and p95 latency';
      const opts = {};
      if (this.hasForecast) {
        // The forecast made at each tick is of the peak over the next
        // horizon: drawn at the tick it was made, and the latest one over
        // the horizon ahead of the last sample.
        const f = this.app.decision?.forecast;
        const q = f?.quantile ? `q${Math.round(f.quantile * 100)}` : 'upper';
        series.push(
          { label: 'forecast peak req/s', stroke: FC_POINT, dash: [6, 3], width: 1.5, scale: 'rps', value: (u, v) => num(v, 0) },
          { label: `upper ${q} req/s`, stroke: FC_UPPER, width: 1, scale: 'rps', value: (u, v) => num(v, 0) });
        opts.bands = [{ series: [4, 3], fill: FC_BAND }];
        opts.overlay = (u) => this.drawAhead(u);
        const i = policies.findIndex((p) => p.type === 'predictive');
        title = `Load (requests/s, all replicas), p95 latency, and the forecast peak over the reaction horizon with its ${f?.quantile ? Math.round(f.quantile * 100) + ' % ' : ''}upper bound` +
          (i >= 0 ? ` (policies[${i}], predictive)` : '');
      }
      this.charts.load = new Chart(box('chart-load', title), {
        label: `Load of ${this.name}`,
        series,
        axes: [{ scale: 'rps', label: 'load (req/s)' }, { scale: 'ms', side: 1, label: 'p95 latency (ms)', grid: { show: false } }],
        scales: { rps: { range: fromZero }, ms: { range: fromZero } },
        ...opts,
      });
    }
    this.buildNetChart();
    this.updateCharts();
  }

  // buildNetChart adds the traffic chart once the app has traffic.
  buildNetChart() {
    const c = this.cols;
    if (this.charts.net || !(c.net_rx.some((v) => v > 0) || c.net_tx.some((v) => v > 0))) return;
    const el = h('div', { class: 'chart', id: 'chart-net' });
    this.chartsEl.append(h('h3', { id: 'chart-net-title' }, 'Traffic (bits/s, all replicas): received and sent'), el);
    const bits = (u, v) => (v == null ? '–' : si(v) + 'bit/s');
    this.charts.net = new Chart(el, {
      label: `Traffic of ${this.name}`,
      series: [
        { label: 'received (net_rx)', stroke: '#0969da', width: 2, scale: 'b', value: bits },
        { label: 'sent (net_tx)', stroke: '#1a7f37', width: 2, scale: 'b', value: bits },
        // The limit in force, over its time so far: its rate times the
        // tasks it covers, each way (a limit is per task, the chart a total).
        { label: 'limit each way', stroke: '#bf3989', dash: [5, 3], width: 1.5, scale: 'b', paths: stepped,
          value: (u, v) => (v == null ? 'none' : si(v) + 'bit/s') },
      ],
      axes: [{ scale: 'b', label: 'traffic (bit/s)', values: (u, splits) => splits.map((v) => si(v)), size: 56 }],
      scales: { b: { range: fromZero } },
      ahead: this.ahead || 0,
    });
    this.updateMarks();
  }

  // limitCol is the limit in force at each sample since it began: its rate
  // times the tasks it covers (the listed ones, else the running ones).
  limitCol() {
    const c = this.cols;
    const e = this.throttle?.throttle;
    if (!e) return c.t.map(() => null);
    const since = Date.parse(e.since) / 1000, until = Date.parse(e.until) / 1000;
    return c.t.map((t, i) => (t >= since && t < until ? e.limit.rate * (e.tasks?.length || c.running[i] || 0) : null));
  }

  // drawAhead draws the latest forecast over the horizon after the last
  // sample: the band from the point forecast up to its upper bound.
  drawAhead(u) {
    const el = this.charts.load?.el;
    const t = u.data[0];
    if (!el || !t?.length || !this.ahead) { if (el) delete el.dataset.aheadBand; return; }
    const last = (col) => { for (let i = col.length - 1; i >= 0 && i >= col.length - 50; i--) if (col[i] != null) return col[i]; return null; };
    const p = last(u.data[3]), up = last(u.data[4]);
    if (p == null || up == null) return;
    const t1 = t[t.length - 1];
    const x0 = u.valToPos(t1, 'x', true), x1 = u.valToPos(t1 + this.ahead, 'x', true);
    const yp = u.valToPos(p, 'rps', true), yu = u.valToPos(up, 'rps', true);
    const { ctx } = u;
    const { top, height } = u.bbox;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.fillStyle = FC_BAND;
    ctx.fillRect(x0, yu, x1 - x0, yp - yu);
    ctx.lineWidth = 1.5 * dpr;
    ctx.strokeStyle = FC_POINT;
    ctx.setLineDash([6 * dpr, 3 * dpr]);
    ctx.beginPath(); ctx.moveTo(x0, yp); ctx.lineTo(x1, yp); ctx.stroke();
    ctx.lineWidth = dpr;
    ctx.strokeStyle = FC_UPPER;
    ctx.setLineDash([]);
    ctx.beginPath(); ctx.moveTo(x0, yu); ctx.lineTo(x1, yu); ctx.stroke();
    // "now": the last sample; right of it, the horizon.
    ctx.strokeStyle = '#59636e';
    ctx.globalAlpha = 0.6;
    ctx.setLineDash([2 * dpr, 2 * dpr]);
    ctx.beginPath(); ctx.moveTo(Math.round(x0) + 0.5, top); ctx.lineTo(Math.round(x0) + 0.5, top + height); ctx.stroke();
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#59636e';
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    ctx.textAlign = 'right';
    ctx.fillText(`next ${duration(this.ahead)}`, x1 - 2 * dpr, top + height - 2 * dpr);
    ctx.restore();
    // Where the band is, in the canvas's pixels (tests read it).
    el.dataset.aheadBand = JSON.stringify([x0, yu, x1, yp].map((v) => Math.round(v)));
  }

  updateCharts() {
    const c = this.cols;
    // The reaction horizon: every chart shows it after the last sample, so
    // that their times line up.
    const f = this.app?.decision?.forecast;
    this.ahead = this.hasForecast && f?.horizon_seconds > 0 ? f.horizon_seconds : 0;
    this.buildNetChart();
    for (const ch of Object.values(this.charts)) ch.setAhead(this.ahead);
    this.charts.metric?.setData([c.t, ...this.metricKeys.map((k) => c[k])]);
    this.charts.replicas.setData([c.t, c.running, c.desired, c.wanted, c.pending, c.min, c.max]);
    if (this.charts.load) {
      const load = c.offered.some((v) => v != null) ? c.offered : c.rate;
      this.charts.load.setData(this.hasForecast ? [c.t, load, c.p95_ms, c.forecast, c.forecast_upper] : [c.t, load, c.p95_ms]);
    }
    const bits = (col) => col.map((v) => (v == null ? null : v * 8));
    this.charts.net?.setData([c.t, bits(c.net_rx), bits(c.net_tx), this.limitCol()]);
    this.updateMarks();
  }

  // renderForecast shows the health of a predictive policy's forecast:
  // whether it is trusted (else hoist is reactive, and says why), its
  // horizon, the coverage of its upper bound and its error against naive.
  renderForecast(f) {
    const el = this.forecastEl;
    if (!f) { el.hidden = true; replace(el); return; }
    el.hidden = false;
    el.dataset.mode = f.mode;
    const pct = (v) => (v == null ? '–' : `${num(v * 100, 0)} %`);
    // Items are separated for screen readers and copied text too.
    const item = (k, v, title) => [h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '), h('span', { class: 'fc-item', dataset: { k }, title }, v)];
    const trusted = f.mode === 'predictive';
    const only = f.why === 'forecast_only';
    const low = f.errors > 0 && f.quantile && f.coverage < f.quantile - 0.05;
    replace(el,
      h('b', null, 'Forecast '),
      h('span', { class: `badge ${trusted ? 'act-scale' : 'act-hold'}`, id: 'forecast-mode' }, trusted ? 'predictive' : only ? 'forecast only' : 'reactive fallback'),
      f.why && !only ? h('span', { class: 'muted' }, ` ${f.why}`) : null,
      only ? h('span', { class: 'muted' }, ' decides and records, acts as reactive') : null,
      item('horizon', `horizon ${duration(f.horizon_seconds)}`, 'the reaction horizon: machine boot (measured), container start and a tick'),
      item('coverage', h('span', { class: low ? 'bad' : null }, `coverage ${pct(f.coverage)}`),
        `the recent share of peaks at or under the upper bound (aim: ${pct(f.quantile)}), over ${f.errors} scored forecasts`),
      item('mase', h('span', { class: f.mase != null && f.mase >= 1 ? 'bad' : null }, `MASE ${f.mase != null ? num(f.mase, 2) : '–'}`),
        'mean absolute scaled error: under 1 the forecast beats the naive one (the last value)'),
      item('errors', `${f.errors} scored`, 'forecasts scored against the peak that came'),
      item('capacity', `${num(f.per_replica, 1)} req/s per replica${f.learned ? ' (learned)' : ' (CPU target while learning)'}`,
        'the request rate one replica serves within the app\'s SLO'));
  }

  // limitSummary is the header's word on a network limit in force (the
  // card below the charts has the details).
  limitSummary() {
    const e = this.throttle?.throttle;
    if (!e) return null;
    return h('div', { id: 'limit-summary' }, h('b', { class: 'bad' }, `${rateText(e.limit.rate)} until ${clock(e.until).slice(0, 5)}`),
      h('span', null, 'network limit (below)'));
  }

  // getThrottle reads the app's rate limit (null where hoist cannot
  // throttle: the route answers 501, and is not asked again, as a hoist
  // without a throttle does not gain one while it runs).
  async getThrottle(opt) {
    if (this.cannotThrottle) return null;
    try {
      return await get(`v1/apps/${enc(this.name)}/throttle`, opt);
    } catch (e) {
      if (e instanceof ApiError && e.status === 501) {
        this.cannotThrottle = true;
        return null;
      }
      throw e;
    }
  }

  // renderThrottle shows the app's network limit: the tasks, rate, burst,
  // the time left (on the cluster's clock), and what the agents report of it;
  // operators put or lift a limit here.
  renderThrottle() {
    const st = this.throttle;
    this.throttleCard.hidden = !st;
    if (!st) return;
    const e = st.throttle;
    const left = e ? (Date.parse(e.until) - this.now().getTime()) / 1000 : 0;
    // The state and the agents' reports are redrawn when they change; the
    // form only when the limit itself or the role does (the reports change
    // at every scrape, and someone may be typing).
    const stateKey = JSON.stringify([e, e ? st.reported : null]);
    if (stateKey !== this.throttleKey) {
      this.throttleKey = stateKey;
      this.throttleLeft = null;
      if (e) {
        const tasks = e.tasks?.length ? e.tasks : null;
        this.throttleLeft = h('span', { id: 'throttle-left', class: 'mono' });
        replace(this.throttleState,
          h('div', { class: 'kv', id: 'throttle-active', dataset: { rate: e.limit.rate, until: e.until } },
            h('div', null, h('b', null, rateText(e.limit.rate)), h('span', null, 'each way, per task')),
            h('div', null, h('b', null, e.limit.burst ? bytes(e.limit.burst) : 'default'), h('span', null, 'burst')),
            h('div', null, h('b', { id: 'throttle-tasks' }, tasks ? tasks.join(', ') : 'all running tasks'), h('span', null, 'tasks limited')),
            h('div', null, h('b', null, clock(e.until)), h('span', null, 'until (UTC), ', this.throttleLeft)),
            h('div', null, h('b', null, e.by), h('span', null, `since ${clock(e.since)}`))),
          e.reason ? h('p', { class: 'muted' }, e.reason) : null,
          this.reportTable(st.reported));
      } else {
        replace(this.throttleState, h('p', { class: 'muted', id: 'throttle-none' }, 'No rate limit on this app\'s tasks.'));
      }
    }
    if (this.throttleLeft) this.throttleLeft.textContent = left > 0 ? `${duration(left)} left` : 'expiring';
    const formKey = JSON.stringify([e && [e.limit, e.tasks, e.until], store.role]);
    if (formKey === this.throttleFormKey || this.throttleFormEl.contains(document.activeElement)) return;
    this.throttleFormKey = formKey;
    replace(this.throttleFormEl, store.canEdit() ? this.throttleForm(e)
      : h('p', { class: 'note' }, `Your role is ${store.role}: an operator can limit or lift.`));
  }

  // reportTable is what each task's agent reported of the limit: applied or
  // not, and the qdiscs' own counters (only on Swarm, where agents apply it).
  reportTable(rep) {
    if (!rep?.length) return h('p', { class: 'muted', id: 'throttle-reported' }, 'No agent has reported this limit (the simulator applies it in its model; on Swarm each node\'s agent reports its counters).');
    // A task whose agent failed has no counters to show.
    const c = (k, known) => (known ? [bytes(k?.bytes ?? 0), num(k?.drops ?? 0), num(k?.overlimits ?? 0)] : ['–', '–', '–']).map((v) => h('td', { class: 'num' }, v));
    return h('div', { class: 'scroll' }, h('table', { id: 'throttle-reported' },
      h('thead', null,
        h('tr', null, h('th', { scope: 'col', rowspan: 2 }, 'Task'), h('th', { scope: 'col', rowspan: 2 }, 'Applied'),
          h('th', { scope: 'colgroup', colspan: 3, class: 'num' }, 'Sent by the task (egress)'), h('th', { scope: 'colgroup', colspan: 3, class: 'num' }, 'Received (ingress)')),
        h('tr', null, ['bytes', 'drops', 'overlimits', 'bytes', 'drops', 'overlimits'].map((x) => h('th', { scope: 'col', class: 'num' }, x)))),
      h('tbody', null, rep.map((r) => h('tr', { dataset: { task: r.task } },
        h('td', { class: 'mono' }, r.task),
        h('td', null, r.error ? h('span', { class: 'bad', title: r.error }, 'error: ' + r.error) : r.applied ? `yes, ${rateText(r.rate)}` : 'no'),
        c(r.egress, r.applied || !r.error), c(r.ingress, r.applied || !r.error))))));
  }

  throttleForm(e) {
    const f = (id, label, value, title) => h('label', { for: id }, label, h('input', { id, type: 'text', value, title }));
    const form = h('form', { class: 'fields throttle', id: 'throttle-form' },
      f('thr-rate', 'Rate each way', e ? rateText(e.limit.rate) : '3Mbit', 'as tc writes it: 3Mbit, 500kbit, 1Gbit'),
      f('thr-burst', 'Burst (optional)', '', 'bytes of the token bucket: 32KiB'),
      f('thr-for', 'For', '10m', 'a duration: 30s, 10m, 1h'),
      f('thr-tasks', 'Tasks (optional)', e?.tasks?.join(', ') || '', 'task IDs, comma-separated; empty: every running task'),
      h('button', { type: 'submit', class: 'primary', id: 'throttle-set' }, e ? 'Change the limit' : 'Limit'),
      e ? h('button', { type: 'button', id: 'throttle-lift', onclick: () => this.lift() }, 'Lift the limit') : null);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); this.limit(form); });
    return form;
  }

  async limit(form) {
    const v = (id) => form.querySelector('#' + id).value.trim();
    const body = { rate: v('thr-rate') };
    if (v('thr-burst')) body.burst = v('thr-burst');
    if (v('thr-for')) body.for = v('thr-for');
    const tasks = v('thr-tasks').split(/[\s,]+/).filter(Boolean);
    if (tasks.length) body.tasks = tasks;
    await this.throttleCall(() => post(`v1/apps/${enc(this.name)}/throttle`, body), 'Limit set');
  }

  async lift() {
    await this.throttleCall(() => del(`v1/apps/${enc(this.name)}/throttle`), 'Limit lifted');
  }

  async throttleCall(call, done) {
    const m = this.throttleMsg;
    m.hidden = false;
    m.className = 'msg';
    m.setAttribute('role', 'status');
    m.textContent = 'Sending…';
    try {
      this.throttleGen = (this.throttleGen || 0) + 1;
      this.throttle = await call();
      this.throttleGen++;
      document.activeElement?.blur();
      this.throttleKey = this.throttleFormKey = null;
      this.renderThrottle();
      this.renderApp();
      this.updateCharts();
      m.className = 'msg ok';
      m.textContent = done + '.';
    } catch (e) {
      if (!(e instanceof ApiError) || e.status === 401) { m.hidden = true; failed(e); return; }
      m.className = 'msg err';
      m.setAttribute('role', 'alert');
      m.textContent = 'Not done: ' + e.describe();
    }
  }

  updateMarks() {
    const marks = [];
    for (const ev of this.history) {
      const kind = appMarker(ev);
      if (kind) marks.push({ t: Date.parse(ev.time) / 1000, kind, label: ev.reason });
    }
    for (const ch of Object.values(this.charts)) ch.setMarks(marks);
  }

  addEvents(evs, fresh) {
    const known = new Set(this.history.map((e) => e.seq));
    const add = evs.filter((e) => !known.has(e.seq));
    if (!add.length) return;
    this.history = this.history.concat(add).sort((a, b) => a.seq - b.seq).slice(-HISTORY);
    for (const ev of add.sort((a, b) => a.seq - b.seq)) {
      const tr = h('tr', { dataset: { seq: ev.seq, kind: ev.kind } },
        h('td', { class: 'mono', title: dateTime(ev.time) }, clock(ev.time)),
        h('td', { class: kindClass(ev.kind) }, ev.kind),
        h('td', { class: 'num' }, change(ev)),
        h('td', { class: 'reason' }, ev.reason + (ev.dry_run ? ' (dry run)' : '')));
      this.historyBody.prepend(tr);
      if (fresh) flash(tr);
    }
    while (this.historyBody.children.length > HISTORY) this.historyBody.lastChild.remove();
    if (this.charts.replicas) this.updateMarks();
  }

  // now is the cluster's time: the last sample's (the simulator's clock is
  // virtual), else the browser's.
  now() {
    const t = this.cols?.t;
    return t && t.length ? new Date(t[t.length - 1] * 1000) : new Date();
  }

  // buildForm shows the policy; editable for operators and admins. A viewer
  // sees it disabled: the API would refuse the change (403) anyway.
  formKey() {
    return JSON.stringify([this.app?.spec, this.app?.overridden, store.role]);
  }

  buildForm() {
    const spec = this.app?.spec;
    if (!spec) return;
    this.specKey = this.formKey();
    this.schedules = [];
    const canEdit = store.canEdit();
    const field = (path, label, value, kind) => {
      const id = 'f-' + path.replace(/[^a-z0-9]+/gi, '-');
      const attrs = { id, name: path, dataset: { field: path, kind }, value: value ?? '' };
      if (kind === 'int') Object.assign(attrs, { type: 'number', step: 1, min: 0 });
      else if (kind === 'float') Object.assign(attrs, { type: 'number', step: 'any' });
      else Object.assign(attrs, { type: 'text', pattern: '^([0-9.]+(ns|us|ms|s|m|h))+$', title: 'a duration: 30s, 2m, 1h30m' });
      const input = h('input', attrs);
      input.addEventListener('input', () => { this.dirty = true; input.removeAttribute('aria-invalid'); });
      return h('label', { for: id }, label, input);
    };
    const groups = [
      h('fieldset', null, h('legend', null, 'Replicas'), h('div', { class: 'fields' },
        field('replicas.min', 'Min', spec.replicas?.min, 'int'), field('replicas.max', 'Max', spec.replicas?.max, 'int'))),
      h('fieldset', null, h('legend', null, 'Cooldown'), h('div', { class: 'fields' },
        field('cooldown.up', 'After a scale-up', spec.cooldown?.up, 'duration'), field('cooldown.down', 'After a scale-down', spec.cooldown?.down, 'duration'))),
    ];
    (spec.policies || []).forEach((p, i) => {
      const fields = POLICY_FIELDS[p.type];
      const title = `policies[${i}]: ${p.type}` + (p.metric ? ` on ${p.metric}` : p.query ? ' on a query' : '');
      if (p.type === 'schedule') {
        const table = scheduleTable(p, this.now());
        this.schedules.push({ p, table });
        groups.push(h('fieldset', { class: 'schedule' }, h('legend', null, title), table));
        return;
      }
      if (!fields) {
        groups.push(h('fieldset', null, h('legend', null, title), h('p', { class: 'muted' }, 'Kept as it is (edit it with the API or the descriptor).')));
        return;
      }
      groups.push(h('fieldset', null, h('legend', null, title), h('div', { class: 'fields' },
        fields.map(([f, label, kind]) => field(`policies[${i}].${f}`, label, p[f], kind)))));
    });
    const save = h('button', { type: 'submit', class: 'primary', id: 'policy-save' }, 'Save policy');
    const reset = this.app.overridden
      ? h('button', { type: 'button', id: 'policy-reset', onclick: () => this.reset() }, 'Back to the descriptor\'s policy') : null;
    const all = h('fieldset', { id: 'policy-fields', disabled: !canEdit, class: 'plain' }, groups, h('div', { class: 'fields' }, save, reset));
    const form = h('form', { class: 'policy', 'aria-labelledby': 'h-policy', novalidate: false },
      canEdit ? null : h('p', { class: 'note', id: 'policy-readonly' }, `Your role is ${store.role}: you can see this policy but not change it (operator needed).`),
      all);
    form.addEventListener('submit', (e) => { e.preventDefault(); this.save(form); });
    replace(this.formEl, form);
    this.dirty = false;
  }

  // payload is the policy update: the spec's replicas, cooldown and
  // policies, each sent whole, with the form's values in place.
  payload(form) {
    const spec = this.app.spec;
    const val = (path) => {
      const input = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (!input) return undefined;
      const v = input.value.trim();
      if (v === '') return null;
      return input.dataset.kind === 'duration' ? v : Number(v);
    };
    const set = (obj, key, v) => { if (v === null) delete obj[key]; else if (v !== undefined) obj[key] = v; };
    const replicas = { ...spec.replicas };
    set(replicas, 'min', val('replicas.min'));
    set(replicas, 'max', val('replicas.max'));
    const cooldown = { ...spec.cooldown };
    set(cooldown, 'up', val('cooldown.up'));
    set(cooldown, 'down', val('cooldown.down'));
    const policies = (spec.policies || []).map((p, i) => {
      const q = structuredClone(p);
      for (const [f] of POLICY_FIELDS[p.type] || []) set(q, f, val(`policies[${i}].${f}`));
      return q;
    });
    return { replicas, cooldown, policies };
  }

  async save(form) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    this.msg.className = 'msg';
    this.msg.setAttribute('role', 'status');
    this.msg.textContent = 'Saving…';
    try {
      const res = await put(`v1/apps/${enc(this.name)}/policy`, this.payload(form));
      const s = res.app.spec;
      this.app = { ...this.app, spec: s, overridden: res.app.overridden };
      this.dirty = false;
      this.buildForm();
      this.msg.className = 'msg ok';
      this.msg.textContent = `Saved: replicas ${s.replicas.min}..${s.replicas.max}, ${(s.policies || []).length} policies; the next tick decides with it.` +
        (res.warnings?.length ? ' Warnings: ' + res.warnings.join('; ') : '');
      this.refresh();
    } catch (e) {
      this.showError(e, form);
    }
  }

  async reset() {
    try {
      await del(`v1/apps/${enc(this.name)}/policy`);
      const app = await get(`v1/apps/${enc(this.name)}`);
      this.app = app;
      this.buildForm();
      this.msg.className = 'msg ok';
      this.msg.textContent = 'The descriptor\'s policy is back.';
    } catch (e) {
      this.showError(e, this.formEl);
    }
  }

  showError(e, form) {
    if (!(e instanceof ApiError)) { failed(e); return; }
    if (e.status === 401) { failed(e); return; }
    this.msg.className = 'msg err';
    this.msg.setAttribute('role', 'alert');
    const details = e.details.length > 1 ? ' ' + e.details.map((d) => `${d.field}: ${d.message}`).join('; ') : '';
    this.msg.textContent = 'Not saved: ' + e.describe() + details;
    for (const d of e.details.length ? e.details : [{ field: e.field }]) {
      const input = d.field && form.querySelector(`[data-field="${CSS.escape(d.field)}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
  }
}

// rateText writes bits/s as tc does: 3Mbit.
function rateText(bits) {
  for (const [u, v] of [['Gbit', 1e9], ['Mbit', 1e6], ['kbit', 1e3]]) if (bits >= v && bits % v === 0) return `${bits / v}${u}`;
  return bits >= 1e6 ? `${num(bits / 1e6, 2)}Mbit` : `${bits}bit`;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

// inWindow tells whether the time t (a Date) is in the weekly window w of
// time zone tz, as the engine reads it (internal/policy): start inclusive,
// end exclusive, start = end the whole day, an end before the start crossing
// midnight (the days are those it starts on).
export function inWindow(w, t, tz) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz || 'UTC', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(t);
  } catch {
    return null; // a zone this browser does not know
  }
  const get = (k) => parts.find((x) => x.type === k)?.value;
  const day = DAYS.indexOf(String(get('weekday')).slice(0, 3).toLowerCase());
  const mins = (hm) => { const [a, b] = String(hm).split(':').map(Number); return a * 60 + b; };
  const now = mins(get('hour') + ':' + get('minute'));
  const start = mins(w.start), end = mins(w.end);
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  const days = (w.days || []).map((d) => DAYS.indexOf(String(d).slice(0, 3).toLowerCase()));
  const on = (d) => !days.length || days.includes(d);
  if (start < end) return on(day) && now >= start && now < end;
  if (start === end) return on(day); // the whole day
  return (on(day) && now >= start) || (on((day + 6) % 7) && now < end);
}

// scheduleTable shows a schedule policy's windows, and which is in force at
// the cluster's time now.
function scheduleTable(p, now) {
  const tz = p.timezone || 'UTC';
  const rows = (p.windows || []).map((w, i) => {
    const inForce = inWindow(w, now, tz);
    return h('tr', { dataset: { window: i, inForce: String(!!inForce) } },
      h('td', null, (w.days || []).length ? w.days.join(', ') : 'every day'),
      h('td', { class: 'mono' }, `${w.start}–${w.end}`),
      h('td', { class: 'num' }, w.min ?? '–'),
      h('td', { class: 'num' }, w.max ?? '–'),
      h('td', null, inForce == null ? '?' : inForce ? h('span', { class: 'badge act-scale' }, 'in force now') : ''));
  });
  return h('div', null,
    h('table', { class: 'windows' },
      h('caption', { class: 'muted' }, `Windows of the week, ${tz} (24 h). Inside one, its min and max replace the app's; shown, not edited here.`),
      h('thead', null, h('tr', null, ['Days', 'Time', 'Min', 'Max', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows)));
}
