// Enterprise list: server-side filters (street, status, dust kind, search),
// client-side ones the API has no parameter for (industry, connection, online,
// grade), paging, CSV export and survey-table import with upload progress.
import { api, apiAll, hasRoute } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, errorBox, gradeTag, select, toast, modal, loading } from '../ui.js';
import { loadLabels, lbl } from '../labels.js';
import { drillBar, drillInputs } from '../drill.js';

const PAGE = 20;

export default async function enterprises(el, ctx) {
  const q = ctx.query;
  const f = {
    q: q.get('q') || '', street: q.get('street') || '', status: q.get('status') || '', dust_kind: q.get('dust_kind') || '',
    industry: q.get('industry') || '', conn: q.get('conn') || '', grade: q.get('grade') || '', online: q.get('online') || '',
  };
  // a district (a statistic's row links here with it): no field of its own on the form
  const district = q.get('district') ? { district: q.get('district') } : {};
  let page = +(q.get('page') || 1);
  const [regions, ov] = await Promise.all([api('/api/v1/regions').catch(() => ({ items: [] })), api('/api/v1/overview').catch(() => ({}))]);
  if (!ctx.alive) return;
  const streets = regions.items.filter(r => r.level === 'street');
  await loadLabels();
  const dustKinds = Object.keys(ov.by_dust_kind || {});
  const canExport = hasRoute('GET', '/api/v1/enterprises/export.csv') && !ctx.isEnt;
  const canImport = ['city_admin', 'city_staff', 'district_admin', 'district_staff'].includes(ctx.me.role);

  const input = h('input', { type: 'search', name: 'q', value: f.q, placeholder: t('ent.q'), style: { width: '220px' } });
  const sel = (name, opts) => select(name, [['', t('common.all')], ...opts], f[name]);
  const industrySel = sel('industry', []);
  const form = h('form', { class: 'filters', onsubmit: e => { e.preventDefault(); apply(); } },
    h('label', null, t('common.search'), input),
    h('label', null, t('common.street'), sel('street', streets.map(s => [s.code, s.name]))),
    h('label', null, t('ent.industry'), industrySel),
    dustKinds.length ? h('label', null, t('ent.dust'), sel('dust_kind', dustKinds.map(k => [k, lbl('dust_kind', k)]))) : null,
    h('label', null, t('ent.status'), sel('status', ['producing', 'stopped', 'overhaul'].map(s => [s, t('status.' + s)]))),
    h('label', null, t('ent.conn'), sel('conn', ['connected', 'not_connected', 'suspended'].map(s => [s, t('conn.' + s)]))),
    h('label', null, t('ent.online'), sel('online', [['yes', t('online.yes')], ['no', t('online.no')]])),
    hasRoute('GET', '/api/v1/risk/ranking') ? h('label', null, t('ent.grade'), sel('grade', ['red', 'orange', 'yellow', 'blue', 'none'].map(g => [g, t('grade.' + g)]))) : null,
    ...drillInputs(district),
    h('button', { class: 'btn primary', type: 'submit' }, t('common.search')),
    h('button', { class: 'btn', type: 'button', onclick: () => { ctx.go('#/enterprises'); } }, t('common.reset')));
  const body = h('div', null, loading());
  el.append(
    h('div', { class: 'page-head' }, h('h2', null, t('ent.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name),
      h('div', { class: 'actions' },
        canImport ? h('button', { class: 'btn', onclick: importDialog, 'data-action': 'import' }, t('ent.import')) : null,
        canExport ? h('a', { class: 'btn primary', href: exportHref({ ...f, ...district }), download: 'enterprises.csv', 'data-action': 'export-csv' }, t('ent.export')) : null)),
    h('section', { class: 'card' }, drillBar(district, '#/enterprises'), form, h('div', { class: 'bd flush' }, body)));

  function apply() {
    const fd = new FormData(form);
    const p = new URLSearchParams();
    for (const [k, v] of fd.entries()) if (v) p.set(k, v);
    ctx.go('#/enterprises' + (p.toString() ? '?' + p : ''));
  }

  // server-side part
  const sp = new URLSearchParams();
  // industry and grade by the server too: a grade of none is an enterprise not scored yet
  for (const k of ['q', 'street', 'status', 'dust_kind', 'industry', 'grade']) if (f[k]) sp.set(k, f[k]);
  if (district.district) sp.set('district', district.district);
  let list, grades = new Map(), online = new Map();
  try {
    const jobs = [apiAll('/api/v1/enterprises' + (sp.toString() ? '?' + sp : ''))];
    if (hasRoute('GET', '/api/v1/risk/ranking')) jobs.push(apiAll('/api/v1/risk/ranking').then(r => { grades = new Map(r.items.map(i => [i.enterprise.id, i])); }).catch(() => {}));
    [list] = await Promise.all(jobs);
  } catch (e) { fill(body, errorBox(e)); return; }
  if (!ctx.alive) return;
  for (const code of [...new Set(list.items.map(e => e.industry_code).filter(Boolean))].sort())
    industrySel.append(h('option', { value: code, selected: code === f.industry }, lbl('industry', code)));
  // online = any point reporting recently: the overview knows totals only, so
  // ask per enterprise lazily for the visible page
  let rows = list.items.filter(e => !f.conn || e.connection_status === f.conn);

  async function onlineOf(pageRows) {
    await Promise.all(pageRows.filter(e => !online.has(e.id)).map(e =>
      api(`/api/v1/enterprises/${e.id}`).then(r => online.set(e.id, r.points_online > 0 ? [r.points_online, r.points_total] : [0, r.points_total])).catch(() => {})));
  }
  if (f.online) {
    await onlineOf(rows);
    rows = rows.filter(e => { const o = online.get(e.id); return o && (f.online === 'yes' ? o[0] > 0 : o[0] === 0); });
  }
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  page = Math.min(Math.max(1, page), pages);
  const pageRows = rows.slice((page - 1) * PAGE, page * PAGE);
  await onlineOf(pageRows);
  if (!ctx.alive) return;
  const cols = [
    { title: t('ent.name'), render: e => h('a', { href: '#/enterprises/' + e.id, 'data-enterprise-link': e.id }, e.name) },
    { title: t('ent.code'), render: e => h('span', { class: 'mono' }, e.code) },
    { title: t('common.street'), render: e => e.street ? e.street.name : e.district.name },
    { title: t('ent.industry'), render: e => e.industry_code ? h('span', { title: e.industry_code }, lbl('industry', e.industry_code)) : '' },
    { title: t('ent.status'), render: e => tv('status', e.status) },
    { title: t('ent.conn'), render: e => h('span', { class: 'tag ' + (e.connection_status === 'connected' ? 'ok' : 'muted') }, tv('conn', e.connection_status)) },
    { title: t('ent.online'), render: e => { const o = online.get(e.id); return o ? h('span', { class: 'tag ' + (o[0] ? 'ok' : 'bad') }, `${o[0]}/${o[1]}`) : t('common.na'); } },
    hasRoute('GET', '/api/v1/risk/ranking') ? { title: t('ent.grade'), render: e => { const g = grades.get(e.id); return h('span', null, gradeTag(g && g.grade), g ? ' ' + (+g.r).toFixed(1) : ''); } } : null,
    { title: t('common.actions'), render: e => h('span', null, h('a', { href: '#/enterprises/' + e.id }, t('common.view')), ' · ', h('a', { href: '#/monitor/' + e.id }, t('nav.monitor'))) },
  ].filter(Boolean);
  const go = p => { const u = new URLSearchParams(ctx.query); u.set('page', p); ctx.go('#/enterprises?' + u); };
  fill(body, 
    list.items.length < list.total ? h('div', { class: 'note', style: { margin: '8px 14px' } }, t('ent.limited', { n: list.items.length })) : null,
    table(cols, pageRows, { empty: empty(t('ent.empty'), t('ent.empty.hint')), attrs: { 'data-testid': 'enterprise-table' } }),
    h('div', { class: 'pager' }, t('common.total', { n: rows.length }),
      h('button', { class: 'btn sm', disabled: page <= 1, onclick: () => go(page - 1) }, t('common.prev')),
      `${page} / ${pages}`,
      h('button', { class: 'btn sm', disabled: page >= pages, onclick: () => go(page + 1) }, t('common.next'))));
}

// The survey table (粉尘涉爆企业基础情况表) as an Excel workbook or CSV; XHR for upload progress.
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
function importDialog() {
  const file = h('input', { type: 'file', accept: `.xlsx,.csv,text/csv,${XLSX}` });
  const bar = h('i', { style: { width: '0%' } });
  const out = h('div');
  const btn = h('button', { class: 'btn primary', onclick: () => {
    const f = file.files[0];
    if (!f) return;
    btn.disabled = true; fill(out, h('div', { class: 'muted' }, t('ent.importing')));
    const x = new XMLHttpRequest();
    x.open('POST', '/api/v1/enterprises/import');
    // the server tells a workbook from CSV by its bytes; the type only has to be one it takes
    x.setRequestHeader('Content-Type', /\.xlsx$/i.test(f.name) || f.type === XLSX ? XLSX : 'text/csv');
    x.upload.onprogress = e => { if (e.lengthComputable) bar.style.width = (e.loaded / e.total * 100).toFixed(0) + '%'; };
    x.onload = () => {
      btn.disabled = false; bar.style.width = '100%';
      let b = null; try { b = JSON.parse(x.responseText); } catch { /* not JSON */ }
      clear(out);
      if (x.status === 200) { out.append(h('div', { class: 'note' }, t('ent.imported', { c: b.created, u: b.updated }))); toast(t('ent.imported', { c: b.created, u: b.updated }), 'ok'); }
      else if (b && b.errors) out.append(h('div', { class: 'err' }, t('ent.import.refused')), table(
        [{ title: '#', key: 'row' }, { title: t('common.note'), key: 'message' }], b.errors));
      else out.append(h('div', { class: 'err' }, (b && (b.detail || b.hint)) || 'HTTP ' + x.status));
    };
    x.onerror = () => { btn.disabled = false; fill(out, h('div', { class: 'err' }, t('err.network'))); };
    x.send(f);
  } }, t('common.submit'));
  modal(t('ent.import'), h('div', null, h('p', { class: 'muted' }, t('ent.import.formats')), file, h('div', { class: 'progress', style: { margin: '12px 0' } }, bar), out), [btn]);
}

// The export honours the page's filters (online is computed in the browser: not exported).
function exportHref(f) {
  const p = new URLSearchParams();
  for (const [k, q] of [['q', 'q'], ['district', 'district'], ['street', 'street'], ['status', 'status'], ['dust_kind', 'dust_kind'],
    ['industry', 'industry'], ['conn', 'connection_status'], ['grade', 'grade']]) if (f[k]) p.set(q, f[k]);
  return '/api/v1/enterprises/export.csv' + (p.toString() ? '?' + p : '');
}
