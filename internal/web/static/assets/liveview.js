// The shared life of a page about one app or one pool: it follows the event
// stream for its subject, refreshes soon after each of its events and on a
// timer, and stops all of that, its fetches and its charts when it goes.

import { rangePicker } from './charts.js';
import { store } from './store.js';

export class LiveView {
  constructor(name) {
    this.name = name;
    this.ctl = new AbortController();
    this.charts = {};
    this.busy = false;
  }

  // follow takes the live events whose `field` (app or pool) names this view.
  follow(field) {
    this.unsub = store.on((ev) => {
      if (ev[field] !== this.name) return;
      this.addEvents([ev], true);
      clearTimeout(this.soon);
      this.soon = setTimeout(() => this.refresh(), 250);
    });
  }

  // rangeBar is the time-range picker of the page's charts.
  rangeBar() {
    return rangePicker((sec) => { for (const c of Object.values(this.charts)) c.setRange(sec); });
  }

  // poll refreshes every ms as well (what the events do not carry: metrics).
  poll(ms) {
    this.timer = setInterval(() => this.refresh(), ms);
  }

  unmount() {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.unsub?.();
    this.ctl.abort();
    for (const c of Object.values(this.charts)) c.destroy();
  }
}
