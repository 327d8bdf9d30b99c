// The dashboard's shell: sign-in, the live event stream shared by every
// view, and the router (#/, #/apps/NAME, #/pools/NAME).

import { ApiError, get, session } from './api.js';
import { h, replace } from './dom.js';
import { failed, store } from './store.js';
import { openStream } from './stream.js';
import { OverviewView } from './overview.js';
import { AppView } from './appview.js';
import { PoolView } from './poolview.js';

// perf holds the dashboard's own timings (tests and people read them in the
// console): first render of the overview and each live update, in ms.
window.hoistPerf = { firstRender: null, firstRenderAt: null, updates: [], events: [] };

const main = document.getElementById('main');
const live = document.getElementById('live');
const who = document.getElementById('who');
const logout = document.getElementById('logout');

function setLive(state) {
  live.textContent = { live: 'live', reconnecting: 'reconnecting…', unauthorized: 'signed out', off: 'offline' }[state] || state;
  live.className = 'live ' + (state === 'live' ? 'on' : state === 'reconnecting' ? 'off' : '');
}

function startStream() {
  store.stream?.close();
  store.stream = openStream({
    after: store.lastSeq,
    onEvent(ev) {
      store.lastSeq = ev.seq;
      store.setClock(ev.time);
      store.emit(ev);
    },
    onState(state) {
      setLive(state);
      if (state === 'unauthorized') signOut('The event stream refused your token: sign in again.');
    },
  });
}

let view = null;

function route() {
  view?.unmount();
  view = null;
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const [kind, ...rest] = hash.split('/');
  const name = rest.join('/');
  if (kind === 'apps' && name) view = new AppView(name);
  else if (kind === 'pools' && name) view = new PoolView(name);
  else view = new OverviewView();
  replace(main);
  view.mount(main);
}

async function whoami() {
  const me = await get('v1/whoami');
  store.role = me.role;
  store.open = me.open;
  who.textContent = me.open ? 'admin (open: no tokens)' : 'role: ' + me.role;
  logout.hidden = me.open;
}

async function start() {
  await whoami();
  // The stream starts at the log's end: views load their own history.
  const page = await get('v1/events?limit=1');
  store.lastSeq = page.last_seq || 0;
  startStream();
  window.addEventListener('hashchange', route);
  route();
}

function signOut(message) {
  session.clear();
  store.stream?.close();
  store.stream = null;
  store.role = '';
  view?.unmount();
  view = null;
  window.removeEventListener('hashchange', route);
  who.textContent = '';
  logout.hidden = true;
  setLive('off');
  showLogin(message);
}

function showLogin(message) {
  setLive('unauthorized');
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const err = h('p', { id: 'login-error', class: message ? 'msg err' : 'msg', role: 'alert' }, message || '');
  const form = h('form', { class: 'card login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to hoist'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'muted' }, 'A token from hoist\'s --tokens file. It is kept in this browser tab only and sent as a bearer header.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    session.set(input.value.trim());
    try {
      await start();
    } catch (x) {
      session.clear();
      err.className = 'msg err';
      err.textContent = x instanceof ApiError ? x.describe() : String(x.message || x);
    }
  });
  replace(main, form);
  input.focus();
}

store.unauthorized = signOut;
// The skip link focuses the content without touching the hash (the router's).
document.querySelector('.skip').addEventListener('click', (e) => { e.preventDefault(); main.focus(); });
logout.addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('unhandledrejection', (e) => failed(e.reason));

// The server says whether it needs tokens, so a first visit shows the form
// rather than provoking a 401.
const needsToken = document.querySelector('meta[name="hoist-auth"]')?.content !== 'open';

(async () => {
  if (needsToken && !session.token) {
    showLogin('');
    return;
  }
  try {
    await start();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showLogin(session.token ? 'Your token was refused: sign in again.' : '');
    else {
      replace(main, h('p', { class: 'msg err', role: 'alert' }, 'The API did not answer: ' + (e.message || e)));
    }
  }
})();
