// 实时监测: per dust-removal system, cards of live values coloured by alarm
// state; a zoomable trend chart for any point and range from the downsampled
// series (min/max band + mean when bucketed).
import { api, apiAll, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { h, clear, fill, card, empty, errorBox, fmtTime, fmtNum, chart, loading, ago, unitText, withUnit, gradeTag } from '../ui.js';
import { onLive } from '../live.js';
import { limitText, pointState } from './enterprise.js';

const RANGES = { '1h': 3600, '6h': 6 * 3600, '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400 };

export default async function monitor(el, ctx) {
  const id = ctx.params.id;
  if (!id) return picker(el, ctx);
  let ent;
  try { ent = await api('/api/v1/enterprises/' + encodeURIComponent(id)); } catch (e) { el.append(h('div', { 'data-testid': 'forbidden' }, errorBox(e))); return; }
  if (!ctx.alive) return;
  const e = ent.enterprise;
  const range = RANGES[ctx.query.get('range')] ? ctx.query.get('range') : '6h';
  let selected = ctx.query.get('point');
  const cardsBox = h('div', null, loading());
  const chartEl = h('div', { class: 'chart tall' });
  const chartInfo = h('span');
  const stamp = h('span', { class: 'muted' });
  el.append(
    h('div', { class: 'page-head' }, ctx.isEnt ? null : h('a', { class: 'crumbs', href: '#/monitor' }, t('mon.title') + ' /'),
      h('h2', null, h('a', { href: '#/enterprises/' + e.id, style: { color: 'inherit' } }, e.name)), stamp,
      h('div', { class: 'actions' }, h('a', { class: 'btn', href: '#/enterprises/' + e.id }, t('nav.enterprises')))),
    cardsBox,
    card(t('mon.trend'), chartEl, h('span', null, chartInfo, ...Object.keys(RANGES).map(r =>
      h('button', { class: 'btn sm' + (r === range ? ' primary' : ''), 'data-range': r, onclick: () => ctx.go(`#/monitor/${e.id}?range=${r}${selected ? '&point=' + selected : ''}`) }, t('r.' + r))))));

  let points = [], openAlarms = new Map(), chartObj = null;
  async function loadPoints() {
    try {
      const jobs = [api(`/api/v1/enterprises/${e.id}/points`)];
      if (hasRoute('GET', '/api/v1/alarms')) jobs.push(api(`/api/v1/alarms?enterprise=${e.id}&open=true&limit=200`).catch(() => null));
      const [r, al] = await Promise.all(jobs);
      points = r.items;
      openAlarms = new Map();
      if (al) for (const a of al.items) if (a.point && a.cleared_at == null) {
        const prev = openAlarms.get(a.point.id);
        if (!prev || a.level > prev.level) openAlarms.set(a.point.id, a);
      }
    } catch (ex) { fill(cardsBox, errorBox(ex)); return; }
    if (!ctx.alive) return;
    renderCards();
    stamp.textContent = t('common.updated', { t: fmtTime(Date.now(), true) });
  }
  function renderCards() {
    const systems = ent.systems.map(s => ({ ...s, pts: points.filter(p => p.system_id === s.id) }));
    const loose = points.filter(p => !ent.systems.some(s => s.id === p.system_id));
    if (loose.length) systems.push({ id: 0, code: '', name: t('mon.unsys'), pts: loose });
    if (!points.length) { fill(cardsBox, card(t('mon.title'), empty(t('mon.nosys')))); return; }
    fill(cardsBox, ...systems.filter(s => s.pts.length).map(s => card(`${s.code} ${s.name}${s.workshop ? ' · ' + s.workshop : ''}`,
      h('div', { class: 'pts' }, s.pts.map(p => {
        const a = openAlarms.get(p.id);
        const st = pointState(p, a);
        return h('div', { class: `pt s-${st}${String(p.id) === selected ? ' sel' : ''}`, 'data-point': p.id, 'data-state': st, tabindex: 0,
          onclick: () => { selected = String(p.id); history.replaceState(null, '', `#/monitor/${e.id}?range=${range}&point=${p.id}`); renderCards(); trend(); } },
        h('div', { class: 'n', title: `${p.name} (${p.code})` }, p.name),
        h('div', { class: 'v', 'data-point-value': p.id }, p.latest ? fmtNum(p.latest.value) : t('common.na'), h('small', { 'data-unit': '' }, unitText(p.unit))),
        h('div', { class: 'l' }, limitText(p)),
        h('div', { class: 'l' }, a ? h('span', { class: 'tag ' + (a.level >= 2 ? 'red' : 'orange') }, t('alkind.' + a.kind, {}, a.kind)) : null, ' ',
          p.latest ? ago(p.latest.ts) : t('online.no')));
      })), null, { class: 'card sys', 'data-system': s.id })));
  }
  async function trend() {
    const p = points.find(x => String(x.id) === selected);
    if (!p) { fill(chartEl, empty(t('mon.pickpt'))); return; }
    // up to now (no `to`), from the start of an hour (a minute for short ranges): every chart
    // of this point opened in the same hour asks the same question, which the server reuses
    const grain = RANGES[range] > 6 * 3600 ? 3600e3 : 60e3;
    const to = new Date(), from = new Date(Math.floor((to.getTime() - RANGES[range] * 1000) / grain) * grain);
    let r;
    try { r = await api(`/api/v1/points/${p.id}/series?from=${encodeURIComponent(from.toISOString())}`); } catch (ex) { fill(chartEl, errorBox(ex)); return; }
    if (!ctx.alive) return;
    chartInfo.textContent = `${p.name} · ${r.bucket_s ? t('mon.bucket', { s: r.bucket_s }) : t('mon.raw')} · ${r.items.length} `;
    // filing periods (停产/检修 报备) covering the point: shaded on the chart, listed here
    const filed = r.filings || [];
    if (filed.length) chartInfo.append(h('span', { class: 'tag muted', 'data-series-filings': filed.length,
      title: filed.map(f => `${t('mon.filed.' + f.type)} ${fmtTime(f.starts_at)} ~ ${fmtTime(f.ends_at)}`).join('\n') },
    t('mon.filed', { n: filed.length })), ' ');
    const filedArea = { silent: true, itemStyle: { color: 'rgba(134,144,156,.18)' }, label: { fontSize: 10, color: '#86909c' },
      data: filed.map(f => [{ name: t('mon.filed.' + f.type), xAxis: Math.max(Date.parse(f.starts_at), from.getTime()) },
        { xAxis: Math.min(Date.parse(f.ends_at), to.getTime()) }]) };
    const l = p.limits || {};
    const marks = [['high', '#ff7d00'], ['high_high', '#e02d2d'], ['low', '#ff7d00'], ['low_low', '#e02d2d']]
      .filter(([k]) => l[k] != null).map(([k, c]) => ({ yAxis: l[k], lineStyle: { color: c, type: 'dashed' }, label: { formatter: `${k} ${l[k]}`, fontSize: 10 } }));
    const series = r.bucket_s ? [
      { name: 'min', type: 'line', data: r.items.map(i => [i[0], i[1]]), lineStyle: { opacity: 0 }, stack: 'band', symbol: 'none' },
      { name: t('mon.minmax'), type: 'line', data: r.items.map(i => [i[0], i[2] - i[1]]), lineStyle: { opacity: 0 }, areaStyle: { color: 'rgba(29,95,191,.15)' }, stack: 'band', symbol: 'none' },
      { name: t('mon.avg'), type: 'line', data: r.items.map(i => [i[0], i[3]]), showSymbol: false, lineStyle: { color: '#1d5fbf', width: 1.5 }, markLine: { symbol: 'none', data: marks }, markArea: filedArea },
    ] : [{ name: p.name, type: 'line', data: r.items.map(i => [i[0], i[1]]), showSymbol: false, lineStyle: { color: '#1d5fbf', width: 1.5 }, markLine: { symbol: 'none', data: marks }, markArea: filedArea }];
    const opt = { animation: false, grid: { left: 50, right: 24, top: 24, bottom: 56 }, tooltip: { trigger: 'axis', valueFormatter: v => withUnit(v, p.unit) },
      xAxis: { type: 'time' }, yAxis: { type: 'value', scale: true, name: unitText(p.unit) },
      dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }], series };
    if (!r.items.length) { if (chartObj) { chartObj.dispose(); chartObj = null; } fill(chartEl, empty()); return; }
    if (!chartObj || chartObj.isDisposed()) { clear(chartEl); chartObj = await chart(chartEl, ctx, opt); } else chartObj.setOption(opt, true);
  }
  await loadPoints();
  if (!selected && points.length) selected = String(points[0].id);
  renderCards();
  trend();
  let pending = null;
  onLive(ctx, ev => { if ((ev.type === 'ingest' || ev.type === 'alarm') && ev.enterprise_id === e.id && !pending) pending = setTimeout(() => { pending = null; loadPoints(); }, 500); });
  const timer = setInterval(loadPoints, 15000);
  const trendTimer = setInterval(trend, 60000);
  ctx.onLeave(() => { clearInterval(timer); clearInterval(trendTimer); clearTimeout(pending); });
}

async function picker(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('mon.title')), h('span', { class: 'crumbs' }, t('mon.pick'))));
  const input = h('input', { type: 'search', placeholder: t('ent.q'), style: { width: '260px' } });
  const box = h('div', null, loading());
  el.append(h('section', { class: 'card' }, h('form', { class: 'filters', onsubmit: ev => { ev.preventDefault(); load(); } }, input, h('button', { class: 'btn primary', type: 'submit' }, t('common.search'))), h('div', { class: 'bd' }, box)));
  async function load() {
    let r;
    let grades = new Map();
    try {
      [r] = await Promise.all([api('/api/v1/enterprises?limit=200' + (input.value ? '&q=' + encodeURIComponent(input.value) : '')),
        hasRoute('GET', '/api/v1/risk/ranking') && !ctx.isEnt ? apiAll('/api/v1/risk/ranking').then(g => { grades = new Map(g.items.map(i => [i.enterprise.id, i.grade])); }).catch(() => {}) : null]);
    } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    // each card coloured by state: grey when no point reports (offline),
    // else by the current risk grade; the worst first
    const state = x => {
      const lv = x.live || {};
      if (lv.points_total > 0 && !lv.points_online) return 'off';
      return grades.get(x.id) || 'none';
    };
    const order = { red: 0, orange: 1, off: 2, yellow: 3, blue: 4, none: 5 };
    const items = r.items.slice().sort((a, b) => order[state(a)] - order[state(b)]);
    fill(box, items.length ? h('div', { class: 'pts' }, items.map(x => { const st = state(x), lv = x.live || {}; return h('a', { class: 'pt pick-' + st, href: '#/monitor/' + x.id, 'data-pick-state': st, 'data-enterprise': x.id, style: { textDecoration: 'none', color: 'inherit' } },
      h('div', { class: 'n' }, x.street ? x.street.name : x.district.name), h('div', { style: { fontWeight: 600, margin: '4px 0' } }, x.name),
      h('div', { class: 'l' }, st === 'off' ? h('span', { class: 'tag muted' }, t('online.no')) : gradeTag(grades.get(x.id)), ' ',
        lv.points_total ? `${t('ent.online')} ${lv.points_online}/${lv.points_total}` : x.industry_code)); })) : empty(t('ent.empty')));
  }
  await load();
}
