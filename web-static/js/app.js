// Boot, session, layout and the hash router.  Pages are ES modules loaded on
// first use; each gets a ctx with the caller (me), the route params and
// onLeave() for timers, charts and live subscriptions.
import { api, loadRoutes, setUnauthenticatedHandler } from './api.js';
import { t, setLang, getLang } from './i18n.js';
import { h, clear, errorBox, empty, zone, setZone } from './ui.js';
import { startLive, stopLive, onLiveStatus } from './live.js';

const app = document.getElementById('app');
const state = { me: null, leave: [], main: null, nav: null, expired: false };
const GOV_ADMINS = ['city_admin', 'district_admin'];

export function isEnterprise(me) { return me && me.scope && me.scope.kind === 'enterprise'; }
export function isAdmin(me) { return me && (GOV_ADMINS.includes(me.role) || me.role === 'enterprise_manager'); }
export function me() { return state.me; }

setUnauthenticatedHandler(() => {
  if (!state.me) return;
  state.me = null; state.expired = true; stopLive();
  location.hash = '#/login';
});

function navItems(m) {
  const ent = isEnterprise(m);
  const items = ent ? [
    ['enterprises/' + m.scope.id, 'nav.own', '▤'],
    ['monitor/' + m.scope.id, 'nav.monitor', '◔'],
  ] : [
    ['overview', 'nav.overview', '◉'],
    ['enterprises', 'nav.enterprises', '▤'],
    ['monitor', 'nav.monitor', '◔'],
  ];
  items.push(['alarms', 'nav.alarms', '⚠'], ['warnings', 'nav.warnings', '⚑'], ['cleaning', 'nav.cleaning', '✓']);
  if (!ent) items.push(['wall', 'nav.wall', '▣']);
  if (!ent) items.push(['stats', 'nav.stats', '∑'], ['reports', 'nav.reports', '▦']); // issue 15
  // supervision workflows (issue 14)
  items.push(['filings', 'nav.filings', '▣'], ['hazards', 'nav.hazards', '⚒'], ['supervision', 'nav.supervision', '☑']);
  items.push(['duty', ent ? 'nav.todo' : 'nav.duty', '⏲']);
  items.push(['spotchecks', 'nav.spotchecks', '⌕']); // 在线抽查
  const admin = [];
  if (isAdmin(m)) admin.push(['accounts', 'nav.accounts', '☰']);
  if (GOV_ADMINS.includes(m.role)) admin.push(['forward', 'nav.forward', '⇪']);
  if (!ent) admin.push(['backtest', 'nav.backtest', '⚖']);
  if (isAdmin(m)) admin.push(['notify', 'nav.notify', '✉']);
  if (!ent) admin.push(['survey', 'nav.survey', '✎']); // issue 17 item 8 (entry): 摸排录入
  if (GOV_ADMINS.includes(m.role)) admin.push(['regions', 'nav.regions', '⌗']); // issue 17 item 8 (entry)
  admin.push(['bulk', 'nav.bulk', '⇅']); // issue 17 item 8: bulk tables of assets
  admin.push(['settings', 'nav.settings', '⚙']);
  return { items, admin };
}

function shell() {
  const m = state.me;
  const { items, admin } = navItems(m);
  const link = ([href, key, ico]) => h('a', { href: '#/' + href, 'data-nav': href.split('/')[0] }, h('span', { class: 'ico' }, ico), t(key));
  const liveDot = h('span', { class: 'live-dot' });
  const liveText = h('span');
  const clock = h('span', { class: 'clock' });
  const tick = () => { clock.textContent = new Intl.DateTimeFormat(getLang() === 'en' ? 'en-GB' : 'zh-CN', { timeZone: zone(), year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(new Date()); };
  tick(); setInterval(tick, 1000);
  onLiveStatus(s => { liveDot.className = 'live-dot ' + s; liveText.textContent = t('top.live.' + s); });
  state.nav = h('nav', { class: 'sidenav', 'aria-label': 'main' },
    items.map(link), h('div', { class: 'sep' }, t('nav.sec.manage')), admin.map(link));
  state.main = h('main', { id: 'main' });
  clear(app).append(h('div', { class: 'shell' },
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, h('img', { src: '/img/logo.svg', alt: '' }), t('app.title')),
      h('span', { class: 'scope', 'data-scope': m.scope.kind }, m.scope.name || m.scope.kind),
      h('span', { class: 'spacer' }),
      h('span', { title: 'SSE /api/v1/events' }, liveDot, liveText),
      clock,
      h('span', { class: 'user', 'data-user': m.username }, (m.display_name || m.username) + ' · ' + t('role.' + m.role, {}, m.role)),
      h('select', { 'aria-label': 'language', onchange: e => { setLang(e.target.value); shell(); route(); } },
        h('option', { value: 'zh', selected: getLang() === 'zh' }, '中文'), h('option', { value: 'en', selected: getLang() === 'en' }, 'English')),
      h('button', { onclick: logout, 'data-action': 'logout' }, t('top.logout'))),
    state.nav, state.main));
  document.title = t('app.title');
}

async function logout() {
  try { await api('/api/v1/auth/logout', { method: 'POST', noAuthRedirect: true }); } catch { /* gone anyway */ }
  state.me = null; stopLive();
  location.hash = '#/login';
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(qs || '') };
}

const PAGES = {
  overview: () => import('./pages/overview.js'),
  enterprises: () => import('./pages/enterprises.js'),
  enterprise: () => import('./pages/enterprise.js'),
  monitor: () => import('./pages/monitor.js'),
  alarms: () => import('./pages/alarms.js'),
  warnings: () => import('./pages/warnings.js'),
  cleaning: () => import('./pages/cleaning.js'),
  accounts: () => import('./pages/accounts.js'),
  settings: () => import('./pages/settings.js'),
  forward: () => import('./pages/forward.js'),
  backtest: () => import('./pages/backtest.js'),
  wall: () => import('./pages/wall.js'),
  // supervision workflows
  filings: () => import('./pages/filings.js'),
  hazards: () => import('./pages/hazards.js'),
  // statistics and monthly reports (issue 15)
  stats: () => import('./pages/stats.js'),
  reports: () => import('./pages/reports.js'),
  notify: () => import('./pages/notify.js'),
  supervision: () => import('./pages/supervision.js'),
  duty: () => import('./pages/duty.js'),
  // data entry (issue 17 item 8, branch entry)
  regions: () => import('./pages/regions.js'),
  // bulk tables of systems, points and cameras (issue 17 item 8)
  bulk: () => import('./pages/bulk.js'),
  spotchecks: () => import('./pages/spotchecks.js'),
  survey: () => import('./pages/survey.js'),
};

let routeSeq = 0;
export async function route() {
  const seq = ++routeSeq;
  state.leave.splice(0).forEach(f => { try { f(); } catch (e) { console.error(e); } });
  const { parts, query } = parseHash();
  if (parts[0] === 'login' || !state.me) {
    if (state.me && parts[0] === 'login') { location.hash = '#/'; return; }
    const mod = await import('./pages/login.js');
    mod.default({ expired: state.expired, mustChange: state.mustChange, onLoggedIn: loggedIn, query });
    return;
  }
  const m = state.me;
  const ent = isEnterprise(m);
  let page = parts[0] || (ent ? 'enterprise' : 'overview');
  let params = { id: parts[1] };
  if (!parts[0] && ent) params = { id: String(m.scope.id) };
  if (page === 'enterprises' && parts[1]) page = 'enterprise';
  if (ent && (page === 'overview' || page === 'enterprises')) { location.replace('#/enterprises/' + m.scope.id); return; }
  if (ent && page === 'monitor' && !parts[1]) params.id = String(m.scope.id);
  const ctx = {
    me: m, params, query, isEnt: ent, isAdmin: isAdmin(m),
    onLeave: f => state.leave.push(f),
    get alive() { return seq === routeSeq; },
    go: hash => { location.hash = hash; },
  };
  for (const a of state.nav.querySelectorAll('a')) {
    const href = a.getAttribute('href').slice(2);
    a.classList.toggle('active', href === parts.slice(0, href.split('/').length).join('/') || (!parts[0] && a === state.nav.querySelector('a')));
  }
  const main = clear(state.main);
  main.scrollTop = 0;
  // an enterprise account sees exactly itself: other ids are refused here
  // before any request (the API refuses them too: 404 outside the scope)
  if (ent && (page === 'enterprise' || page === 'monitor') && params.id && params.id !== String(m.scope.id)) {
    main.append(h('div', { 'data-testid': 'forbidden' }, empty(t('empty.notfound'), h('a', { href: '#/enterprises/' + m.scope.id }, t('nav.own')))));
    return;
  }
  const loader = PAGES[page];
  if (!loader) { main.append(empty(t('empty.notfound'))); return; }
  try {
    const mod = await loader();
    if (seq !== routeSeq) return;
    const el = h('div', { class: 'page', 'data-page': page });
    main.append(el);
    await mod.default(el, ctx);
  } catch (e) {
    if (seq !== routeSeq) return;
    console.error(e);
    main.append(errorBox(e));
  }
}

async function loggedIn(meObj) {
  state.me = meObj; state.expired = false; state.mustChange = false;
  shell();
  startLive();
  const target = parseHash().parts[0];
  if (!target || target === 'login') location.hash = isEnterprise(meObj) ? '#/enterprises/' + meObj.scope.id : '#/overview';
  else route();
}

async function boot() {
  await Promise.all([loadRoutes(), api('/api/v1/version', { noAuthRedirect: true }).then(v => setZone(v.time_zone), () => {})]);
  try {
    const m = await api('/api/v1/auth/me', { noAuthRedirect: true });
    if (m.must_change_password) { state.me = null; state.mustChange = true; route(); return; }
    await loggedIn(m);
  } catch {
    state.me = null;
    route();
  }
}

window.addEventListener('hashchange', () => route());
boot();
