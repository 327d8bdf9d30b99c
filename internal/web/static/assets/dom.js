// Small DOM and formatting helpers. Elements are built with h(), never from
// HTML strings: names come from the API, and the page's CSP forbids inline
// styles, so styles are set through the CSSOM (the style attribute below).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'style') Object.assign(el.style, v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replace empties el and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

// Times are shown in UTC: the simulator's clock is virtual, and a cluster's
// operators are rarely in one time zone.
export function clock(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (isNaN(d)) return '';
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

export function dateTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (isNaN(d)) return '';
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${clock(d)} UTC`;
}

export function num(v, digits = 1) {
  if (v == null || Number.isNaN(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

// duration writes seconds as 45 s, 2m10s, 1h05m.
export function duration(sec) {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? pad(s % 60) + 's' : ''}`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

// si writes a number with an SI prefix: 2.5M, 750k, 12.
export function si(v) {
  if (v == null || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  for (const [p, d] of [['G', 1e9], ['M', 1e6], ['k', 1e3]]) {
    if (a >= d) return `${+(v / d).toFixed(a >= 100 * d ? 0 : a >= 10 * d ? 1 : 2)}${p}`;
  }
  return String(+v.toFixed(a >= 10 ? 0 : 2));
}

// bytes writes a byte count in binary units: 32 KiB, 1.5 MiB.
export function bytes(n) {
  if (n == null) return '–';
  for (const [u, d] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]]) {
    if (n >= d) return `${+(n / d).toFixed(n >= 10 * d ? 0 : 1)} ${u}`;
  }
  return `${n} B`;
}

export function gib(bytes) {
  if (bytes == null) return '–';
  return (bytes / 2 ** 30).toFixed(bytes >= 10 * 2 ** 30 ? 0 : 1) + ' GiB';
}

export function cores(milli) {
  const s = num(milli / 1000, 2);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s; // 10 stays 10
}

// bar is a horizontal gauge; mark is an optional line (a target).
export function bar(share, { hot = false, mark = null, label = '' } = {}) {
  const fill = h('i', { class: hot ? 'hot' : null });
  const el = h('div', { class: 'bar', role: 'img', 'aria-label': label }, fill);
  setBar(el, share, { hot, mark, label });
  return el;
}

export function setBar(el, share, { hot = false, mark = null, label = '' } = {}) {
  const fill = el.firstChild;
  const w = Math.max(0, Math.min(1, share || 0));
  fill.style.width = (w * 100).toFixed(1) + '%';
  fill.className = hot ? 'hot' : '';
  let m = el.querySelector('b');
  if (mark != null) {
    if (!m) { m = document.createElement('b'); el.append(m); }
    m.style.left = (Math.max(0, Math.min(1, mark)) * 100).toFixed(1) + '%';
  } else if (m) m.remove();
  el.setAttribute('aria-label', label);
}

export function phaseBadge(phase) {
  return h('span', { class: `badge ph-${phase}` }, phase);
}

export function kindClass(kind) {
  return 'k-' + String(kind).replace('.', '-');
}

// eventLine describes an event's change: "2 → 5".
export function change(ev) {
  if (ev.from || ev.to) return `${ev.from ?? 0} → ${ev.to ?? 0}`;
  return '';
}

export function subject(ev) {
  return ev.app || ev.machine || ev.pool || ev.node || '';
}
