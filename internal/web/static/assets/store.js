// What every view shares: who is signed in, the live events, the cluster's
// clock, and how errors are shown.

import { ApiError } from './api.js';
import { clock } from './dom.js';

export const store = {
  role: '',
  open: false,
  lastSeq: 0,
  listeners: new Set(),
  stream: null,
  // unauthorized is set by the shell: back to the sign-in form.
  unauthorized: (msg) => {},
  // on subscribes to live events; returns the unsubscribe function.
  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); },
  emit(ev) {
    for (const fn of this.listeners) {
      try { fn(ev); } catch (e) { console.error(e); }
    }
  },
  canEdit() { return this.role === 'operator' || this.role === 'admin'; },
  setClock(t) {
    if (t && !String(t).startsWith('0001')) document.getElementById('clock').textContent = 'cluster ' + clock(t) + ' UTC';
  },
};

let toastTimer = null;
export function toast(msg) {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

// failed handles an error of a background request: a lost session goes back
// to the sign-in form, anything else is shown.
export function failed(err) {
  if (err && err.name === 'AbortError') return;
  if (err instanceof ApiError && err.status === 401) {
    store.unauthorized('Your token was refused (401): sign in again.');
    return;
  }
  toast(err instanceof ApiError ? err.describe() : String((err && err.message) || err));
}

// flash briefly highlights an element that changed (the Web Animations API:
// no style attribute, no forced layout).
export function flash(el) {
  el.animate?.([{ backgroundColor: '#fff8c5' }, { backgroundColor: 'transparent' }], { duration: 1200, easing: 'ease-out' });
}
