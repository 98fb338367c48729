// 一张图: the numbers of the caller's scope, the map by risk grade, grade and
// alarm-trend charts and the live feed (SSE).  Nothing here needs a reload:
// live events update the feed at once and refresh the numbers (debounced);
// without the events route the numbers refresh every 10 s.
import { api, apiAll, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { h, clear, fill, card, stat, chart, empty, missingRoute, errorBox, fmtTime, pct, GRADE_COLOURS, toast, zoneDay, zoneDayStart } from '../ui.js';
import { enterpriseMap, legend } from '../map.js';
import { noticesCard } from '../notices.js';
import { onLive, liveAvailable } from '../live.js';
import { loadLabels, lbl } from '../labels.js';

const GRADES = ['red', 'orange', 'yellow', 'blue'];

// 已接入 as the data shows it: a derived figure when the API gives one,
// else at least the enterprises reporting now
function connectedOf(o) {
  if (o.connected_derived != null) return o.connected_derived;
  if (o.connected == null) return null;
  return Math.max(o.connected, o.online || 0);
}

export default async function overview(el, ctx) {
  loadLabels(); // the feed labels codes from the catalogue once it is there
  const statsBox = h('div', { class: 'stats', 'data-testid': 'stats' });
  const mapEl = h('div', { class: 'map', 'data-testid': 'map' });
  const gradeEl = h('div', { class: 'chart' });
  const trendEl = h('div', { class: 'chart' });
  const streetEl = h('div', { class: 'chart' });
  const feed = h('div', { class: 'feed', 'data-testid': 'live-feed' });
  const feedNote = h('span');
  const updated = h('span', { 'data-testid': 'ov-updated' });
  el.append(
    h('div', { class: 'page-head' }, h('h2', null, t('ov.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name),
      h('div', { class: 'actions' }, updated, h('button', { class: 'btn', onclick: () => refresh() }, t('common.refresh')))),
    statsBox,
    h('div', { class: 'grid g-main' },
      card(t('ov.map'), mapEl, legend(), { flush: true }),
      card(t('ov.feed'), feed, feedNote, { flush: true, 'data-testid': 'feed-card' })),
    h('div', { class: 'grid g3' },
      card(t('ov.grades'), gradeEl), card(t('ov.trend'), trendEl), card(t('ov.streets'), streetEl)),
    ...[noticesCard(ctx)].filter(Boolean));

  let ov = null, ents = [], grades = new Map(), mapObj = null, charts = {};
  const gradeOf = e => grades.get(e.id);

  async function loadGrades() {
    if (!hasRoute('GET', '/api/v1/risk/ranking')) return;
    try {
      const r = await apiAll('/api/v1/risk/ranking');
      grades = new Map((r.items || []).map(i => [i.enterprise.id, i.grade]));
    } catch { /* the map stays grey */ }
  }

  function renderStats() {
    const o = ov || {};
    const al = o.alarms || {}, wn = o.warnings || {};
    const byG = wn.by_grade || {};
    const na = t('common.na');
    fill(statsBox, 
      stat(t('ov.enterprises'), o.enterprises ?? na, '', null, { 'data-stat': 'enterprises' }),
      // an enterprise reporting now is connected whatever its archive says:
      // 已接入 never reads below 当前在线 (the archive's own count in the tooltip)
      stat(t('ov.connected'), connectedOf(o) ?? na, '', o.enterprises != null ? '/ ' + o.enterprises : null,
        { 'data-stat': 'connected', title: o.connected != null ? t('d17.connected.title', { a: o.connected, d: o.online ?? na }) : null }),
      stat(t('ov.online'), o.online ?? na, 'ok', o.enterprises != null ? '/ ' + o.enterprises : null, { 'data-stat': 'online' }),
      stat(t('ov.points'), o.points_online ?? na, 'ok', o.points != null ? '/ ' + o.points + (o.points_filed ? ` · ${t('ov.filed')} ${o.points_filed}` : '') : null, { 'data-stat': 'points_online' }),
      stat(t('ov.open_alarms'), al.open ?? na, 'red', null, { 'data-stat': 'open_alarms' }),
      stat(t('ov.overdue_alarms'), al.overdue ?? na, 'orange', null, { 'data-stat': 'overdue_alarms' }),
      stat(t('ov.open_warnings'), wn.open ?? na, 'yellow',
        o.warnings ? GRADES.map(g => (byG[g] || 0)).join(' / ') : null, { 'data-stat': 'open_warnings', title: GRADES.map(g => t('colour.' + g)).join(' / ') }),
      stat(t('ov.overdue_warnings'), wn.overdue ?? na, 'orange', null, { 'data-stat': 'overdue_warnings' }),
      stat(t('ov.cleaning'), o.cleaning && o.cleaning.rate != null ? pct(o.cleaning.rate) : na, 'gblue', null, { 'data-stat': 'cleaning' }),
      stat(t('ov.mandatory'), o.mandatory_online_rate != null ? pct(+o.mandatory_online_rate) : na, 'gblue', null, { 'data-stat': 'mandatory' }));
    updated.textContent = o.generated_at ? t('common.updated', { t: fmtTime(o.generated_at, true) }) : '';
  }

  async function renderCharts() {
    const o = ov || {};
    const rg = o.risk_grades;
    if (rg) {
      const data = GRADES.map(g => ({ name: t('grade.' + g), value: rg[g] || 0, itemStyle: { color: GRADE_COLOURS[g] } }));
      data.push({ name: t('grade.none'), value: rg.unscored || 0, itemStyle: { color: GRADE_COLOURS.none } });
      const opt = { tooltip: { trigger: 'item' }, legend: { bottom: 0, icon: 'circle', itemWidth: 8 },
        series: [{ type: 'pie', radius: ['42%', '68%'], center: ['50%', '44%'], label: { formatter: '{c}' }, data }] };
      if (charts.grade) charts.grade.setOption(opt); else charts.grade = await chart(gradeEl, ctx, opt);
    } else if (!gradeEl.firstChild) gradeEl.replaceWith(missingRoute('GET /api/v1/risk/distribution'));
    const streets = ctx.me.scope.kind === 'city' ? o.by_district || [] : o.by_street || [];
    const sopt = { grid: { left: 90, right: 20, top: 10, bottom: 24 }, tooltip: {},
      xAxis: { type: 'value', minInterval: 1 }, yAxis: { type: 'category', data: streets.map(s => s.name), axisLabel: { fontSize: 11 } },
      series: [{ type: 'bar', data: streets.map(s => s.enterprises), itemStyle: { color: '#2a7de1' }, barMaxWidth: 14 }] };
    if (charts.street) charts.street.setOption(sopt); else if (streets.length) charts.street = await chart(streetEl, ctx, sopt);
    else if (!streetEl.firstChild) streetEl.append(empty());
  }

  async function renderTrend() {
    if (!hasRoute('GET', '/api/v1/alarms')) { if (!trendEl.dataset.missing) { trendEl.dataset.missing = 1; trendEl.append(missingRoute('GET /api/v1/alarms')); } return; }
    const days = [];
    const now = new Date();
    const start = new Date(now.getTime() - 6 * 86400e3);
    const key = zoneDay;
    for (let i = 0; i < 7; i++) days.push(key(new Date(start.getTime() + i * 86400e3)));
    const counts = { 0: {}, 1: {}, 2: {} };
    // counted by the server per city day and level (a list page stops at 500 alarms)
    try {
      const r = await api('/api/v1/statistics/alarm-trend?days=7');
      for (const d of r.days || []) for (const lv of [0, 1, 2]) counts[lv][d.date] = d.levels[lv];
    } catch (e) { fill(trendEl, errorBox(e)); return; }
    const series = [[2, '#e02d2d'], [1, '#ff7d00'], [0, '#a0aab8']].map(([lv, c]) => ({
      name: t('allevel.' + lv), type: 'bar', stack: 'a', data: days.map(d => counts[lv][d] || 0), itemStyle: { color: c }, barMaxWidth: 22 }));
    const opt = { grid: { left: 36, right: 12, top: 30, bottom: 24 }, tooltip: { trigger: 'axis' }, legend: { top: 0, itemWidth: 10 },
      xAxis: { type: 'category', data: days.map(d => d.slice(5)) }, yAxis: { type: 'value', minInterval: 1 }, series };
    if (charts.trend) charts.trend.setOption(opt); else charts.trend = await chart(trendEl, ctx, opt);
  }

  async function refresh() {
    try {
      ov = await api('/api/v1/overview');
      if (!ctx.alive) return;
      renderStats();
      renderCharts();
    } catch (e) { if (ctx.alive) toast(e.message, 'error'); }
  }

  // ---- live feed --------------------------------------------------------
  const entName = id => { const e = ents.find(x => x.id === id); return e ? e.name : '#' + id; };
  let feedCount = 0, ingestCount = 0;
  const ingestLine = h('div', { class: 'item muted', 'data-testid': 'ingest-counter' });
  function addFeed(ev) {
    if (ev.type === 'ingest') {
      ingestCount++;
      ingestLine.textContent = `${t('ov.ingest')}: ${t('ov.batches', { n: ingestCount })} · ${entName(ev.enterprise_id)} · ${fmtTime(Date.now(), true)}`;
      if (!ingestLine.isConnected) feed.prepend(ingestLine);
      return;
    }
    if (!['alarm', 'warning', 'risk'].includes(ev.type)) return;
    if (!feedCount++) { const had = ingestLine.isConnected; clear(feed); if (had) feed.append(ingestLine); }
    let tag, text;
    // repeats of one alarm episode (same id: retrigger, clear, point of an outage) update
    // its line and move it to the top instead of adding another one
    let prev = null, count = 1;
    if (ev.type === 'alarm' && ev.id) {
      prev = feed.querySelector(`[data-alarm-id="${ev.id}"]`);
      if (prev) { count = +prev.dataset.count || 1; prev.remove(); }
      if (ev.count) count = Math.max(count, ev.count);
      else if (prev && ev.action === 'retrigger') count++;
    }
    if (ev.type === 'alarm') {
      const lv = ev.level ?? 1;
      tag = h('span', { class: 'tag ' + (lv >= 2 ? 'red' : lv === 1 ? 'orange' : 'muted') }, t('live.alarm.' + ev.action, {}, lbl('alarm_action', ev.action)));
      text = [h('a', { href: ev.id ? '#/alarms/' + ev.id : '#/enterprises/' + ev.enterprise_id }, entName(ev.enterprise_id)), ' · ', lbl('alarm_kind', ev.kind, 'alkind'),
        ev.point ? ' · ' + ev.point : '', ev.value != null && ev.kind !== 'spark' ? ' = ' + ev.value : '',
        count > 1 ? h('b', { 'data-feed-count': count }, ` ×${count}`) : ''];
    } else if (ev.type === 'warning') {
      tag = h('span', { class: 'tag ' + (ev.grade || 'warn') }, t('live.warning.' + ev.action, {}, t('live.warning')));
      text = [h('a', { href: ev.id ? '#/warnings/' + ev.id : '#/warnings' }, entName(ev.enterprise_id)),
        ev.grade ? ' · ' + t('colour.' + ev.grade) : '', ev.state ? ' · ' + t('wstate.' + ev.state, {}, ev.state) : ''];
    } else {
      tag = h('span', { class: 'tag ' + (ev.grade || 'muted') }, t('live.risk'));
      text = [h('a', { href: '#/enterprises/' + ev.enterprise_id }, entName(ev.enterprise_id)), ' · ',
        t('grade.' + (ev.previous || 'none'), {}, ev.previous), ' → ', t('grade.' + ev.grade, {}, ev.grade), ev.r != null ? ` (R=${(+ev.r).toFixed(1)})` : ''];
      grades.set(ev.enterprise_id, ev.grade);
      if (mapObj) mapObj.recolour(gradeOf);
    }
    const item = h('div', { class: 'item fresh', 'data-feed-type': ev.type, 'data-enterprise': ev.enterprise_id,
      'data-alarm-id': ev.type === 'alarm' && ev.id ? ev.id : null, 'data-count': ev.type === 'alarm' ? count : null }, tag, h('div', null, text),
      h('div', { class: 'when' }, fmtTime(ev.ts || Date.now(), true)));
    const after = ingestLine.isConnected ? ingestLine.nextSibling : feed.firstChild;
    feed.insertBefore(item, after);
    while (feed.children.length > 80) feed.lastChild.remove();
    if (mapObj && ev.enterprise_id) mapObj.flash(ev.enterprise_id);
  }
  feed.append(empty(t('ov.feed.empty')));
  let pending = null;
  if (liveAvailable()) {
    onLive(ctx, ev => {
      addFeed(ev);
      if (ev.type !== 'ingest' && !pending) pending = setTimeout(() => { pending = null; refresh(); if (ev.type === 'alarm') renderTrend(); }, 800);
    });
    ctx.onLeave(() => clearTimeout(pending));
  } else {
    feedNote.textContent = t('ov.feed.poll');
  }
  const timer = setInterval(refresh, liveAvailable() ? 60000 : 10000);
  ctx.onLeave(() => clearInterval(timer));

  // ---- first load ---------------------------------------------------------
  const [, list] = await Promise.all([refresh(), apiAll('/api/v1/enterprises').catch(e => ({ items: [], error: e })), loadGrades()]);
  if (!ctx.alive) return;
  ents = list.items || [];
  if (list.error) mapEl.append(errorBox(list.error));
  mapObj = await enterpriseMap(mapEl, ctx, ents, gradeOf, e => ctx.go('#/enterprises/' + e.id));
  renderTrend();
  // recent alarms seed the feed so the page is never blank on arrival: ts in milliseconds as
  // the live events' (it was seconds, and the seeded lines were dated January 1970); the id
  // lets a live event of the same alarm replace its line instead of adding a second one
  if (hasRoute('GET', '/api/v1/alarms')) {
    try {
      const r = await api('/api/v1/alarms?open=true&limit=15');
      if (ctx.alive && !feedCount && (r.items || []).length) {
        clear(feed);
        for (const a of r.items.slice().reverse()) addFeed({ type: 'alarm', action: 'raise', id: a.id, enterprise_id: a.enterprise.id, kind: a.kind, level: a.level, point: a.point && a.point.name, value: a.value, ts: Date.parse(a.raised_at) });
        for (const it of feed.querySelectorAll('.fresh')) it.classList.remove('fresh');
      }
    } catch { /* feed stays empty */ }
  }
}
