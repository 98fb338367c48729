// Statistics (统计分析): the figures of a period for the caller's scope by district, street,
// industry, dust kind or grade, computed by the server (GET /api/v1/statistics); every number
// links to the list it counts; the table exports as CSV or XLSX with the active filters.
// Below: alarms by kind, onboarding (应接尽接) per cohort with its laggards, mandatory-point
// conformance, and data quality (interruption records, online-rate rankings); each exports.
import { api, hasRoute } from '../api.js';
import { t, tv } from '../i18n.js';
import { lbl, pick } from '../labels.js';
import { h, fill, card, stat, table, errorBox, missingRoute, pct, select, loading, fmtTime, empty, zoneDay } from '../ui.js';

const GROUPS = ['street', 'district', 'enterprise', 'industry', 'dust_kind', 'grade', 'none'];
// the rankings GET /statistics can sort by, with their labels; '' = by code
const SORTS = [['', 'st.sort.key'], ['alarms', 'st.alarms'], ['alarms_overdue', 'st.sort.alarms_overdue'],
  ['warnings', 'st.warnings'], ['escalations', 'st.escalations'], ['interruptions', 'st.interruptions'],
  ['online_rate', 'st.online_rate'], ['handled_on_time_rate', 'st.handled_rate'],
  ['cleared_on_time_rate', 'st.cleared_rate'], ['hazards_open', 'st.sort.hazards_open']];
const PAGE = 100; // rows per page (the API's default)
const SHOWN = 20; // rows of a list shown under the table; its export holds every one

// an API list route with filters -> the dashboard page that lists it
function pageOf(link) {
  if (!link) return null;
  const [path, qs] = link.split('?');
  const page = { '/api/v1/alarms': 'alarms', '/api/v1/warnings': 'warnings', '/api/v1/enterprises': 'enterprises',
    '/api/v1/cleaning/compliance': 'cleaning', '/api/v1/hazards': 'hazards' }[path];
  return page ? '#/' + page + (qs ? '?' + qs : '') : null;
}
const num = (v, link, attrs) => {
  const href = pageOf(link);
  const text = v == null ? t('common.na') : String(v);
  return href ? h('a', { href, ...(attrs || {}) }, text) : h('span', attrs || null, text);
};

export default async function stats(el, ctx) {
  if (!hasRoute('GET', '/api/v1/statistics')) { el.append(missingRoute('GET /api/v1/statistics')); return; }
  const q = ctx.query;
  const f = {
    period: q.get('period') || 'month', date: q.get('date') || '', from: q.get('from') || '', to: q.get('to') || '',
    group: q.get('group') || (ctx.me.scope.kind === 'city' ? 'district' : 'street'),
    street: q.get('street') || '', dust_kind: q.get('dust_kind') || '', grade: q.get('grade') || '', industry: q.get('industry') || '',
    sort: q.get('sort') || '', onb_at: q.get('onb_at') || '',
  };
  const page = Math.max(1, parseInt(q.get('page'), 10) || 1);
  const regions = await api('/api/v1/regions').catch(() => ({ items: [] }));
  if (!ctx.alive) return;
  const streets = regions.items.filter(r => r.level === 'street');
  const sel = (name, opts, withAll = true) => select(name, withAll ? [['', t('common.all')], ...opts] : opts, f[name]);
  const form = h('form', { class: 'filters', 'data-testid': 'stats-filters', onsubmit: e => { e.preventDefault(); apply(); } },
    h('label', null, t('st.period'), sel('period', ['day', 'week', 'month', 'custom'].map(p => [p, t('st.period.' + p)]), false)),
    h('label', null, t('st.date'), h('input', { type: 'date', name: 'date', value: f.date })),
    // whole hours: the API widens a custom range to them (what the hourly rollups count)
    h('label', null, t('st.from'), h('input', { type: 'datetime-local', name: 'from', value: f.from, step: 3600 })),
    h('label', null, t('st.to'), h('input', { type: 'datetime-local', name: 'to', value: f.to, step: 3600 })),
    h('label', null, t('st.group'), sel('group', GROUPS.map(g => [g, t('st.group.' + g)]), false)),
    streets.length ? h('label', null, t('common.street'), sel('street', streets.map(s => [s.code, s.name]))) : null,
    h('label', null, t('ent.industry'), h('input', { name: 'industry', value: f.industry, size: 6 })),
    h('label', null, t('ent.dust'), h('input', { name: 'dust_kind', value: f.dust_kind, size: 10 })),
    h('label', null, t('ent.grade'), sel('grade', ['red', 'orange', 'yellow', 'blue', 'none'].map(g => [g, t('st.grade.' + g)]))),
    h('label', null, t('st.sort'), sel('sort', SORTS.map(([v, l]) => [v, t(l)]), false)),
    // onboarding at the end of an ended day (the API reads it back from the hourly rollups)
    h('label', null, t('st.onb_at'), h('input', { type: 'date', name: 'onb_at', value: f.onb_at, max: zoneDay(new Date(Date.now() - 86400e3)) })),
    h('button', { class: 'btn primary', type: 'submit' }, t('common.search')));
  function apply() {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form).entries()) if (v) p.set(k, v);
    ctx.go('#/stats?' + p);
  }
  // the API's query: the page's filters, custom times as RFC 3339 in the city's offset
  const sp = new URLSearchParams({ period: f.period, group: f.group });
  if (f.date) sp.set('date', f.date);
  if (f.period === 'custom') {
    if (f.from) sp.set('from', f.from.length === 16 ? f.from + ':00+08:00' : f.from);
    if (f.to) sp.set('to', f.to.length === 16 ? f.to + ':00+08:00' : f.to);
  }
  for (const k of ['street', 'dust_kind', 'grade', 'industry', 'sort']) if (f[k]) sp.set(k, f[k]);

  const tiles = h('div', { class: 'stats', 'data-testid': 'stats-tiles' }, loading());
  const body = h('div', null, loading());
  const onb = h('div', null, loading());
  const dq = h('div', null, loading());
  const byKind = h('div', null, loading());
  const conf = h('div', null, loading());
  const exp = fmt => hasRoute('GET', '/api/v1/statistics/export')
    ? h('a', { class: 'btn', href: '/api/v1/statistics/export?format=' + fmt + '&' + sp, download: 'statistics.' + fmt, 'data-action': 'export-stats-' + fmt }, t('st.export.' + fmt)) : null;
  // the page's other tables, each with its own filters (onboarding: the street only)
  const onbQ = new URLSearchParams(f.street ? { street: f.street } : {});
  const onbAtQ = new URLSearchParams(onbQ);
  if (f.onb_at) onbAtQ.set('at', f.onb_at);
  const tableExp = (table, qs) => hasRoute('GET', '/api/v1/statistics/export')
    ? h('a', { href: `/api/v1/statistics/export?format=xlsx&table=${table}&${qs}`, download: table + '.xlsx',
      'data-action': 'export-' + table }, t('st.export.' + table)) : null;
  const exports = (...xs) => h('span', { class: 'exports' }, ...xs.flatMap((x, i) => i ? [' · ', x] : [x]));
  el.append(
    h('div', { class: 'page-head' }, h('h2', null, t('st.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name),
      h('div', { class: 'actions' }, exp('csv'), exp('xlsx'),
        hasRoute('GET', '/api/v1/reports') ? h('a', { class: 'btn', href: '#/reports' }, t('nav.reports')) : null)),
    h('section', { class: 'card' }, form),
    tiles,
    card(t('st.table'), body, null, { flush: true }),
    // the short lists side by side; onboarding (a cohort per street, the laggards) is long
    h('div', { class: 'grid g2' }, card(t('st.by_kind'), byKind, null, { flush: true }),
      card(t('st.conformance'), conf, tableExp('conformance', onbQ))),
    card(t('st.onboarding'), onb, exports(tableExp('onboarding', onbAtQ), tableExp('laggards', onbAtQ)), { flush: true }),
    card(t('st.quality'), dq, exports(tableExp('interruptions', sp), tableExp('quality', sp), tableExp('online', sp))));

  let s;
  // the table a page at a time (a city by enterprise is 2,000 rows); the export holds every row
  const pq = new URLSearchParams(sp);
  pq.set('limit', PAGE);
  pq.set('offset', (page - 1) * PAGE);
  try { s = await api('/api/v1/statistics?' + pq); } catch (e) { fill(tiles, errorBox(e)); fill(body); return; }
  if (!ctx.alive) return;
  const T = s.totals, L = T.links;
  // a period still running was counted up to computed_to (a snapshot: up to half a minute ago)
  const upTo = s.computed_to && Date.parse(s.computed_to) < Date.parse(s.to)
    ? ' · ' + t('st.computed_to') + ' ' + fmtTime(s.computed_to).slice(11) : '';
  // a custom range says its hours (widened to whole hours by the API), a day, week or month its days
  const bound = v => f.period === 'custom' ? fmtTime(v).slice(0, 16) : fmtTime(v).slice(0, 10);
  fill(tiles,
    stat(t('st.period.range'), bound(s.from), '', '→ ' + bound(s.to) + upTo,
      { 'data-stat': 'period' }),
    stat(t('ov.enterprises'), num(T.enterprises, L.enterprises), '', null, { 'data-stat': 'enterprises' }),
    stat(t('ov.connected'), T.connected, 'ok', null, { 'data-stat': 'connected' }),
    stat(t('st.points_online'), T.points_online, 'ok', `/ ${T.points}`, { 'data-stat': 'points_online' }),
    stat(t('st.online_rate'), pct(T.online_rate), 'ok', T.point_hours ? `${T.point_hours_with_data} / ${T.point_hours} h` : null, { 'data-stat': 'online_rate' }),
    stat(t('st.interruptions'), num(T.interruptions.count, L.interruptions), 'orange', T.interruptions.hours + ' h', { 'data-stat': 'interruptions' }),
    stat(t('st.alarms'), num(T.alarms.total, L.alarms, { 'data-drill': 'alarms' }), 'red', [0, 1, 2].map(l => T.alarms.by_level[l]).join(' / '), { 'data-stat': 'alarms' }),
    stat(t('st.handled_rate'), pct(T.alarms.handled_on_time_rate), 'ok', `${T.alarms.handled_on_time} / ${T.alarms.handle_due}`, { 'data-stat': 'handled_rate' }),
    stat(t('st.warnings'), num(T.warnings.total, L.warnings, { 'data-drill': 'warnings' }), 'yellow', ['red', 'orange', 'yellow', 'blue'].map(g => T.warnings.by_grade[g]).join(' / '), { 'data-stat': 'warnings' }),
    stat(t('st.signed_rate'), pct(T.warnings.signed_on_time_rate), 'ok', null, { 'data-stat': 'signed_rate' }),
    stat(t('st.cleared_rate'), pct(T.warnings.cleared_on_time_rate), 'ok', null, { 'data-stat': 'cleared_rate' }),
    stat(t('st.overdue'), num(T.alarms.overdue + T.warnings.overdue, null), 'orange', `${T.alarms.overdue} / ${T.warnings.overdue}`, { 'data-stat': 'overdue' }),
    stat(t('st.escalations'), T.warnings.escalations, 'orange', null, { 'data-stat': 'escalations' }),
    stat(t('ov.cleaning'), pct(T.cleaning.rate), 'gblue', `${T.cleaning.done} / ${T.cleaning.required}`, { 'data-stat': 'cleaning' }),
    stat(t('st.hz'), num(T.hazards.open, L.hazards_open, { 'data-drill': 'hazards' }), 'red',
      `${t('st.hz_major')} ${T.hazards.open_major} · ${t('st.hz_overdue')} ${T.hazards.overdue}`, { 'data-stat': 'hazards' }),
    stat(t('st.hz_found'), num(T.hazards.found, L.hazards_found), 'orange',
      `${t('st.hz_major')} ${T.hazards.found_major} · ${t('st.hz_closed')} ${T.hazards.closed}`, { 'data-stat': 'hazards_found' }),
    s.spot_checks ? stat(t('st.spot'), h('a', { href: '#/spotchecks' }, String(s.spot_checks.checks)), 'gblue',
      `${t('st.spot_findings')} ${s.spot_checks.findings} · ${t('st.spot_hazards')} ${s.spot_checks.hazards}`, { 'data-stat': 'spot_checks' }) : null);
  // the period's alarms by kind, most first, each opening its list
  const kinds = Object.entries(T.alarms.by_kind || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  fill(byKind, table([
    { title: t('al.kind'), render: ([k]) => h('span', { 'data-kind': k }, tv('alkind', k)) },
    { title: t('st.alarms'), render: ([k, n]) => num(n, (L.alarms_by_kind || {})[k], { 'data-kind-count': k }) },
    { title: t('st.share'), render: ([, n]) => pct(T.alarms.total ? n / T.alarms.total : null) },
  ], kinds, { attrs: { 'data-testid': 'stats-by-kind' }, empty: empty(t('st.no_alarms')) }));
  const cols = [
    { title: t('st.group.' + f.group), render: r => h('span', { 'data-row': r.code }, r.name || r.code || t('common.na')) },
    { title: t('ov.enterprises'), render: r => num(r.enterprises, r.links.enterprises) },
    { title: t('ov.connected'), key: 'connected' },
    { title: t('st.online_rate'), render: r => pct(r.online_rate) },
    { title: t('st.interruptions'), render: r => num(r.interruptions.count, r.links.interruptions) },
    { title: t('st.alarms'), render: r => num(r.alarms.total, r.links.alarms, { 'data-cell': 'alarms' }) },
    { title: t('ov.overdue_alarms'), render: r => num(r.alarms.overdue, r.links.alarms_overdue) },
    { title: t('st.handled_rate'), render: r => pct(r.alarms.handled_on_time_rate) },
    { title: t('st.warnings'), render: r => num(r.warnings.total, r.links.warnings) },
    { title: t('st.signed_rate'), render: r => pct(r.warnings.signed_on_time_rate) },
    { title: t('st.cleared_rate'), render: r => pct(r.warnings.cleared_on_time_rate) },
    { title: t('st.escalations'), render: r => r.warnings.escalations },
    { title: t('ov.cleaning'), render: r => pct(r.cleaning.rate) },
    { title: t('st.hz_found'), render: r => num(r.hazards.found, r.links.hazards_found) },
    { title: t('st.hz_open'), render: r => num(r.hazards.open, r.links.hazards_open, { 'data-cell': 'hazards' }) },
    { title: t('st.hz_overdue'), render: r => num(r.hazards.overdue, r.links.hazards_overdue) },
  ];
  const pages = Math.max(1, Math.ceil(s.rows_total / PAGE));
  const go = p => { const u = new URLSearchParams(ctx.query); u.set('page', p); ctx.go('#/stats?' + u); };
  fill(body, table(cols, s.rows, { attrs: { 'data-testid': 'stats-table' } }),
    pages > 1 ? h('div', { class: 'pager', 'data-testid': 'stats-pager' }, t('common.total', { n: s.rows_total }),
      h('button', { class: 'btn sm', disabled: page <= 1, 'data-action': 'stats-prev', onclick: () => go(page - 1) }, t('common.prev')),
      `${page} / ${pages}`,
      h('button', { class: 'btn sm', disabled: page >= pages, 'data-action': 'stats-next', onclick: () => go(page + 1) }, t('common.next'))) : null);

  if (hasRoute('GET', '/api/v1/onboarding')) {
    const o = await api('/api/v1/onboarding?' + onbAtQ).catch(e => ({ error: e }));
    if (!ctx.alive) return;
    if (o.error) fill(onb, errorBox(o.error));
    else fill(onb, h('p', { class: 'muted', 'data-testid': 'onboarding-as-of' }, t('rep.state_as_of') + ' ' +
      (f.onb_at ? fmtTime(o.as_of) + t('rep.from_rollups') : t('st.onb_now'))), table([
      { title: t('st.cohort'), key: 'name' }, { title: t('st.milestone'), key: 'milestone' },
      { title: t('st.in_scope'), key: 'in_scope' }, { title: t('ov.connected'), key: 'connected' },
      { title: t('ov.online'), key: 'online' }, { title: t('st.rate'), render: c => pct(c.rate) },
      { title: t('st.laggards'), render: c => c.streets.reduce((n, x) => n + x.laggards.length, 0) },
    ], o.cohorts, { attrs: { 'data-testid': 'onboarding-table' } }), byStreet(o.cohorts), laggards(o.cohorts));
  } else fill(onb);
  if (hasRoute('GET', '/api/v1/onboarding/conformance')) {
    const c = await api('/api/v1/onboarding/conformance?' + onbQ).catch(e => ({ error: e }));
    if (!ctx.alive) return;
    if (c.error) fill(conf, errorBox(c.error));
    else fill(conf, conformance(c));
  } else fill(conf);
  if (hasRoute('GET', '/api/v1/data-quality')) {
    const d = await api(`/api/v1/data-quality?limit=${SHOWN}&` + sp).catch(e => ({ error: e }));
    if (!ctx.alive) return;
    if (d.error) fill(dq, errorBox(d.error));
    else fill(dq, h('div', { class: 'stats' },
      stat(t('st.interruptions'), d.interruptions.total, 'orange', d.interruptions.hours + ' h'),
      stat(t('st.gw_offline'), d.gateways.offline_now, 'orange'),
      stat(t('st.frozen'), d.frozen), stat(t('st.out_of_range'), d.out_of_range), stat(t('st.conflicts'), d.conflicts)),
    interruptions(d.interruptions), rankings(d.online));
  } else fill(dq);
}

const entLink = e => h('a', { href: '#/enterprises/' + e.id, 'data-enterprise-link': e.id }, e.name || e.code);
// "20 of 57: the export holds every one"
const more = (shown, total) => total > shown ? h('p', { class: 'muted', 'data-more': total }, t('st.more', { n: shown, total })) : null;

// one cohort's progress per street (the last cohort, 应接尽接, unless another is chosen)
function byStreet(cohorts) {
  if (!cohorts.length) return null;
  const box = h('div', { 'data-testid': 'onboarding-streets' });
  const show = code => {
    const c = cohorts.find(x => x.code === code) || cohorts[cohorts.length - 1];
    fill(box, table([
      { title: t('common.street'), render: x => h('span', { 'data-street': x.code || '' }, x.name || t('common.na')) },
      { title: t('st.in_scope'), key: 'in_scope' }, { title: t('ov.connected'), key: 'connected' },
      { title: t('ov.online'), key: 'online' }, { title: t('st.rate'), render: x => pct(x.in_scope ? x.connected / x.in_scope : null) },
      { title: t('st.laggards'), render: x => x.laggards.length },
    ], c.streets));
  };
  const chooser = select('cohort', cohorts.map(c => [c.code, c.name]), cohorts[cohorts.length - 1].code,
    { 'data-action': 'onboarding-cohort', onchange: e => show(e.target.value) });
  show(chooser.value);
  return h('div', null, h('h4', null, t('st.by_street'), ' ', chooser), box);
}

// the cohorts' laggards (in a cohort, not connected), the streets' lists in one table
function laggards(cohorts) {
  const rows = cohorts.flatMap(c => c.streets.flatMap(st => st.laggards.map(e => ({ c, st, e }))));
  return h('div', { 'data-testid': 'laggards' }, h('h4', null, t('st.laggards') + ` (${rows.length})`),
    table([
      { title: t('st.cohort'), render: x => x.c.name },
      { title: t('common.street'), render: x => x.st.name || t('common.na') },
      { title: t('common.enterprise'), render: x => entLink(x.e) },
      { title: t('st.last_data'), render: x => x.e.last_data_at ? fmtTime(x.e.last_data_at) : t('st.never') },
    ], rows.slice(0, SHOWN), { empty: empty(t('st.no_laggards')) }), more(SHOWN, rows.length));
}

// dust-removal systems that lack a mandatory point kind, and which
function conformance(c) {
  const names = x => (x.missing_kinds || []).map(k => pick({ zh: k.name_zh, en: k.name_en }) || k.code).join('、');
  return h('div', null,
    h('div', { class: 'stats' },
      stat(t('st.systems'), c.systems, '', null, { 'data-stat': 'systems' }),
      stat(t('st.conforming'), c.conforming, 'ok', null, { 'data-stat': 'conforming' }),
      stat(t('st.nonconforming'), c.nonconforming.length, 'red', `${t('st.enterprises_n')} ${c.enterprises_nonconforming}`, { 'data-stat': 'nonconforming' })),
    table([
      { title: t('common.enterprise'), render: x => entLink(x.enterprise) },
      { title: t('sys.name'), render: x => `${x.system.name || ''} (${x.system.code})` },
      { title: t('st.sys_type'), render: x => pick(x.system.type_label) || x.system.type },
      { title: t('st.missing'), render: x => h('span', { 'data-missing': x.missing.join(',') }, names(x)) },
    ], c.nonconforming.slice(0, SHOWN), { attrs: { 'data-testid': 'conformance-table' }, empty: empty(t('st.all_conform')) }),
    more(SHOWN, c.nonconforming.length));
}

// the period's interruption records, latest first; a handled one opens its alarm with the cause
function interruptions(x) {
  return h('div', null, h('h4', null, t('st.intr_records')), table([
    { title: t('common.enterprise'), render: r => entLink(r.enterprise) },
    { title: t('al.kind'), render: r => tv('alkind', r.kind) },
    { title: t('al.point'), render: r => r.point || r.gateway || t('common.na') },
    { title: t('st.start'), render: r => fmtTime(r.start) },
    { title: t('st.end'), render: r => r.end ? fmtTime(r.end) : h('span', { class: 'tag warn' }, t('st.ongoing')) },
    { title: t('st.hours'), render: r => r.hours },
    { title: t('st.cause'), render: r => h('a', { href: '#/alarms/' + r.id, 'data-cause': r.cause || '' },
      r.cause ? lbl('cause_category', r.cause) : t('st.no_cause')) },
  ], x.items, { attrs: { 'data-testid': 'interruption-records' }, empty: empty(t('st.no_interruptions')) }),
  more(x.items.length, x.total));
}

// the lowest online rates of the period, by enterprise and by street
function rankings(o) {
  if (!o) return null;
  const cols = first => [
    first,
    { title: t('st.online_rate'), render: r => pct(r.online_rate) },
    { title: t('st.point_hours'), render: r => `${r.point_hours_with_data} / ${r.point_hours}` },
    { title: t('st.interruptions'), render: r => r.interruptions ? r.interruptions.count : t('common.na') },
  ];
  return h('div', { class: 'grid g2' },
    h('div', null, h('h4', null, t('st.rank_enterprises')), table(cols({ title: t('common.enterprise'),
      render: r => h('a', { href: '#/enterprises/' + r.key, 'data-rank-enterprise': r.code }, r.name || r.code) }),
    o.enterprises.slice(0, SHOWN), { attrs: { 'data-testid': 'online-ranking' } }), more(SHOWN, o.enterprises.length)),
    h('div', null, h('h4', null, t('st.rank_streets')), table(cols({ title: t('common.street'),
      render: r => h('span', { 'data-rank-street': r.code || '' }, r.name || r.code || t('common.na')) }),
    o.streets, { attrs: { 'data-testid': 'street-ranking' } })));
}
