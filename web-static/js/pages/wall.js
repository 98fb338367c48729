// 大屏: the bureau's wall display.  Dark, full screen, no navigation: counts,
// the map, the live feed, the grade distribution and the overdue alarm and
// warning lists.  It refreshes itself (every 60 s, ?refresh=N for another
// period) by updating the same elements and charts in place, caps the feed,
// and reloads the whole page every 12 hours, so it runs for days unattended.
import { api, apiAll, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, chart, fmtTime, GRADE_COLOURS, zone } from '../ui.js';
import { enterpriseMap } from '../map.js';
import { onLive } from '../live.js';
import { loadLabels, lbl } from '../labels.js';

const GRADES = ['red', 'orange', 'yellow', 'blue'];
const FEED_MAX = 30;
const RELOAD_AFTER_MS = 12 * 3600e3;
const started = Date.now();

export default async function wall(el, ctx) {
  const period = Math.max(1, +(ctx.query.get('refresh') || 60)) * 1000;
  document.body.classList.add('wall-mode');
  ctx.onLeave(() => document.body.classList.remove('wall-mode'));
  await loadLabels();
  const clock = h('span', { class: 'wall-clock' });
  const stamp = h('span', { class: 'wall-stamp', 'data-testid': 'wall-updated' });
  const counts = h('div', { class: 'wall-counts' });
  const mapEl = h('div', { class: 'wall-map', 'data-testid': 'wall-map' });
  const feed = h('div', { class: 'wall-feed', 'data-testid': 'wall-feed' });
  const gradeEl = h('div', { class: 'wall-chart' });
  const overdueAl = h('div', { class: 'wall-list', 'data-testid': 'wall-overdue-alarms' });
  const overdueWn = h('div', { class: 'wall-list', 'data-testid': 'wall-overdue-warnings' });
  const panel = (title, body, attrs) => h('section', { class: 'wall-panel', ...(attrs || {}) }, h('div', { class: 'wall-hd' }, title), body);
  el.append(h('div', { class: 'wall' },
    h('header', { class: 'wall-top' }, h('h1', null, t('app.title')), h('span', { class: 'wall-scope' }, ctx.me.scope.name), h('span', { class: 'spacer' }),
      stamp, clock,
      h('button', { class: 'wall-btn', onclick: () => (document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen()).catch(() => {}) }, t('d17.wall.full')),
      h('a', { class: 'wall-btn', href: '#/overview', 'data-action': 'wall-exit' }, t('d17.wall.exit'))),
    counts,
    h('div', { class: 'wall-main' },
      panel(t('ov.grades'), gradeEl),
      panel(t('ov.map'), mapEl, { class: 'wall-panel wall-center' }),
      panel(t('ov.feed'), feed)),
    h('div', { class: 'wall-bottom' }, panel(t('ov.overdue_alarms'), overdueAl), panel(t('ov.overdue_warnings'), overdueWn))));

  const tick = () => { clock.textContent = new Intl.DateTimeFormat('zh-CN', { timeZone: zone(), hour12: false, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date()); };
  tick();
  const clockTimer = setInterval(tick, 1000);
  ctx.onLeave(() => clearInterval(clockTimer));

  // counts: one element per figure, updated in place
  const figs = {};
  for (const [k, label, cls] of [['enterprises', 'ov.enterprises', ''], ['online', 'ov.online', 'ok'], ['open_alarms', 'ov.open_alarms', 'red'],
    ['overdue_alarms', 'ov.overdue_alarms', 'orange'], ['open_warnings', 'ov.open_warnings', 'yellow'], ['overdue_warnings', 'ov.overdue_warnings', 'orange']]) {
    figs[k] = h('b', { class: 'wall-v ' + cls }, '—');
    counts.append(h('div', { class: 'wall-count', 'data-wall-stat': k }, h('span', null, t(label)), figs[k]));
  }
  let names = new Map(), grades = new Map(), mapObj = null, pie = null, ents = [];
  const line = (when, text, cls) => h('div', { class: 'wall-item ' + (cls || '') }, h('span', { class: 'when' }, fmtTime(when, true)), h('span', null, text));

  async function refresh() {
    if (Date.now() - started > RELOAD_AFTER_MS) { location.reload(); return; }
    const [ov, al, wn, rk] = await Promise.all([
      api('/api/v1/overview').catch(() => null),
      api('/api/v1/alarms?overdue=true&state=active,acknowledged&limit=10').catch(() => null),
      hasRoute('GET', '/api/v1/warnings') ? api('/api/v1/warnings?overdue=true&limit=10').catch(() => null) : null,
      hasRoute('GET', '/api/v1/risk/ranking') ? apiAll('/api/v1/risk/ranking').catch(() => null) : null]);
    if (!ctx.alive) return;
    if (ov) {
      const a = ov.alarms || {}, w = ov.warnings || {};
      const v = { enterprises: ov.enterprises, online: ov.online, open_alarms: a.open, overdue_alarms: a.overdue, open_warnings: w.open, overdue_warnings: w.overdue };
      for (const k in figs) figs[k].textContent = v[k] ?? '—';
      const rg = ov.risk_grades || {};
      const data = GRADES.map(g => ({ name: t('grade.' + g), value: rg[g] || 0, itemStyle: { color: GRADE_COLOURS[g] } }))
        .concat([{ name: t('grade.none'), value: rg.unscored || 0, itemStyle: { color: GRADE_COLOURS.none } }]);
      const opt = { textStyle: { color: '#cfe0ff' }, tooltip: { trigger: 'item' }, legend: { bottom: 0, textStyle: { color: '#cfe0ff' }, icon: 'circle', itemWidth: 8 },
        series: [{ type: 'pie', radius: ['42%', '68%'], center: ['50%', '44%'], label: { color: '#fff', formatter: '{c}' }, data }] };
      if (pie) pie.setOption(opt); else pie = await chart(gradeEl, ctx, opt);
    }
    if (rk) { grades = new Map(rk.items.map(i => [i.enterprise.id, i.grade])); if (mapObj) mapObj.recolour(e => grades.get(e.id)); }
    fill(overdueAl, al && al.items.length ? al.items.map(a => line(a.raised_at, `${a.enterprise.name} · ${lbl('alarm_kind', a.kind, 'alkind')}`, a.level >= 2 ? 'red' : 'orange'))
      : h('div', { class: 'wall-none' }, t('common.none')));
    fill(overdueWn, wn && wn.items.length ? wn.items.map(w => line(w.issued_at, `${(w.enterprise || {}).name || ''} · ${t('colour.' + w.grade, {}, w.grade)}`, w.grade))
      : h('div', { class: 'wall-none' }, t('common.none')));
    stamp.textContent = t('common.updated', { t: fmtTime(new Date(), true) });
    stamp.dataset.refreshes = String(+(stamp.dataset.refreshes || 0) + 1);
  }
  onLive(ctx, ev => {
    if (ev.type !== 'alarm' && ev.type !== 'warning' && ev.type !== 'notice') return;
    const name = names.get(ev.enterprise_id) || ('#' + ev.enterprise_id);
    const what = ev.type === 'alarm' ? lbl('alarm_kind', ev.kind, 'alkind') : ev.type === 'warning' ? t('live.warning.' + ev.action, {}, ev.action) : t('d17.notice.' + ev.action, {}, ev.action);
    feed.prepend(line(ev.ts || Date.now(), `${name} · ${what}`, ev.type === 'alarm' ? (ev.level >= 2 ? 'red' : 'orange') : ev.grade || 'warn'));
    while (feed.children.length > FEED_MAX) feed.lastChild.remove();
    if (mapObj && ev.enterprise_id) mapObj.flash(ev.enterprise_id);
  });
  const timer = setInterval(refresh, period);
  ctx.onLeave(() => clearInterval(timer));
  const list = await apiAll('/api/v1/enterprises').catch(() => ({ items: [] }));
  if (!ctx.alive) return;
  ents = list.items || [];
  names = new Map(ents.map(e => [e.id, e.name]));
  await refresh();
  if (!ctx.alive) return;
  mapObj = await enterpriseMap(mapEl, ctx, ents, e => grades.get(e.id), e => ctx.go('#/enterprises/' + e.id), { dark: true });
}
