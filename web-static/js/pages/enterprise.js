// 一企一档: one enterprise's archive in tabs.  Points refresh live (ingest
// events of this enterprise, else every 15 s); risk, alarms, warnings and
// cleaning appear as their routes exist.
import { api, hasRoute, mayUse } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, errorBox, gradeTag, fmtTime, fmtNum, missingRoute, chart, loading, ago, unitText, withUnit, formModal, formRow, select, toast } from '../ui.js';
import { onLive } from '../live.js';
import { loadLabels, labelCodes, lbl } from '../labels.js';
import { alarmTable } from './alarms.js';
import { warningTable } from './warnings.js';
import { cleaningPanel } from './cleaning.js';
import { keysPanel } from './accounts.js';
import { assetsPanel } from './assets.js';
import { rosterCard } from './notify.js';
import { attachmentsPanel } from './attachments.js';

const TABS = ['base', 'dust', 'points', 'risk', 'alarms', 'warnings', 'cleaning', 'assets', 'files', 'roster', 'keys'];

export default async function enterprise(el, ctx) {
  const id = ctx.params.id;
  let data;
  try { data = await api('/api/v1/enterprises/' + encodeURIComponent(id)); } catch (e) {
    el.append(h('div', { 'data-testid': 'forbidden' }, errorBox(e)));
    return;
  }
  if (!ctx.alive) return;
  const e = data.enterprise;
  // the old cameras tab is part of 设备与接入 now
  const asked = ctx.query.get('tab') === 'cameras' ? 'assets' : ctx.query.get('tab');
  const tab = TABS.includes(asked) ? asked : 'base';
  let riskNow = null;
  if (hasRoute('GET', '/api/v1/enterprises/{id}/risk')) riskNow = await api(`/api/v1/enterprises/${e.id}/risk`).catch(() => null);
  const cur = riskNow && riskNow.current;
  el.append(
    h('div', { class: 'page-head' },
      ctx.isEnt ? null : h('a', { class: 'crumbs', href: '#/enterprises' }, t('nav.enterprises') + ' /'),
      h('h2', { 'data-testid': 'enterprise-name' }, e.name), gradeTag(cur && cur.grade),
      cur ? h('span', { class: 'muted' }, `R = ${(+cur.r).toFixed(1)}`) : null,
      h('span', { class: 'tag ' + (data.points_online ? 'ok' : 'bad') }, `${t('arc.points_online')} ${data.points_online}/${data.points_total}`),
      h('div', { class: 'actions' }, h('a', { class: 'btn primary', href: '#/monitor/' + e.id }, t('arc.monitor')))),
    h('nav', { class: 'tabs' }, TABS.filter(k => (k !== 'keys' || ctx.isAdmin) && (k !== 'roster' || mayUse(ctx.me, 'GET', '/api/v1/enterprises/{id}/duty-roster'))).map(k =>
      h('a', { href: `#/enterprises/${e.id}?tab=${k}`, class: k === tab ? 'active' : null, 'data-tab': k }, t('arc.' + k)))));
  const body = h('div', { 'data-tab-body': tab });
  el.append(body);
  await loadLabels(); // industry, dust kinds, collector types, risk rules by their labels
  if (!ctx.alive) return;
  const panels = { base, dust, points, risk, alarms, warnings, cleaning, assets, files: attachmentsPanel, roster, keys };
  await panels[tab](body, ctx, e, data, riskNow);
}

// The archive's fields as a form: a city/district account edits the archive,
// an enterprise account its contacts only (the API's rule, enterprises.c).
// Only changed fields are sent; numbers as numbers, an emptied field as null.
const ARCHIVE_FIELDS = [
  ['name', 'ent.name', 'text'], ['address', 'arc.address', 'text'], ['longitude', 'd17.lon', 'number'], ['latitude', 'd17.lat', 'number'],
  ['industry_code', 'ent.industry', 'text'], ['status', 'ent.status', ['producing', 'stopped', 'overhaul'], 'status'],
  ['connection_status', 'ent.conn', ['not_connected', 'connected', 'suspended'], 'conn'],
  ['principal_name', 'arc.principal', 'text', null, true], ['principal_phone', 'd17.principal.phone', 'tel', null, true],
  ['safety_manager_name', 'arc.safety', 'text', null, true], ['safety_manager_phone', 'd17.safety.phone', 'tel', null, true],
  ['dust_kinds', 'ent.dust', 'list'], ['dust_workers', 'arc.workers', 'int'], ['zone20_count', 'd17.zone20', 'int'],
  ['zone21_count', 'd17.zone21', 'int'], ['zone22_count', 'd17.zone22', 'int'],
  ['building_storeys', 'd17.storeys', ['single', 'multi'], 'd17b'], ['building_frame', 'd17.frame', ['frame', 'non_frame'], 'd17b'], ['gathering_rooms', 'arc.gathering', 'int'],
];
// connection_status is derived from data (the worker, connected_window_h): people only
// suspend an enterprise or end its suspension (not_connected, derived again at the next tick).
function optionsOf(k, type, e) {
  if (k !== 'connection_status') return type;
  return e.connection_status === 'suspended' ? ['suspended', 'not_connected'] : [e.connection_status, 'suspended'];
}
async function archiveForm(ctx, e) {
  await loadLabels();
  const contactsOnly = ctx.isEnt;
  const fields = ARCHIVE_FIELDS.filter(f => !contactsOnly || f[4]);
  const shown = v => (v == null ? '' : Array.isArray(v) ? v.join('、') : String(v));
  const kinds = new Set(e.dust_kinds || []);
  const rows = fields.map(([k, label, type, tvp]) => formRow(t(label), type === 'list'
    ? h('div', { class: 'chips', 'data-field': k }, [...new Set([...labelCodes('dust_kind'), ...kinds])].map(code =>
      h('label', { class: 'chk' }, h('input', { type: 'checkbox', name: k, value: code, checked: kinds.has(code) }), lbl('dust_kind', code))))
    : Array.isArray(type)
    ? select(k, optionsOf(k, type, e).map(v => [v, tv(tvp, v)]), e[k])
    : h('input', { type: type === 'int' || type === 'number' ? 'number' : type === 'tel' ? 'tel' : 'text', name: k, value: shown(e[k]),
      step: type === 'number' ? 'any' : type === 'int' ? '1' : null, min: type === 'int' ? '0' : null, maxlength: type === 'text' || type === 'tel' ? 200 : null })));
  formModal(contactsOnly ? t('d17.edit.contacts') : t('d17.edit.archive'), h('div', { 'data-testid': 'archive-form' }, rows), async (v, form) => {
    const body = {};
    for (const [k, , type] of fields) {
      if (type === 'list') {
        const now = [...form.querySelectorAll(`[name=${k}]:checked`)].map(i => i.value);
        if (now.join() !== (e[k] || []).join()) body[k] = now;
        continue;
      }
      const raw = (v[k] ?? '').trim();
      if (raw === shown(e[k])) continue;
      if (type === 'int' || type === 'number') body[k] = raw === '' ? null : Number(raw);
      else body[k] = raw === '' && !Array.isArray(type) ? null : raw;
    }
    if (!Object.keys(body).length) return;
    await api(`/api/v1/enterprises/${e.id}`, { method: 'PATCH', body });
    toast(t('set.saved'), 'ok');
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  }, t('common.save', {}, '保存'));
}

function base(body, ctx, e) {
  const kv = (k, v) => [h('dt', null, k), h('dd', null, v ?? t('common.na'))];
  const canEdit = mayUse(ctx.me, 'PATCH', '/api/v1/enterprises/{id}') && (ctx.isEnt ? ['enterprise_manager'].includes(ctx.me.role) : ['city_admin', 'district_admin', 'city_staff', 'district_staff'].includes(ctx.me.role));
  body.append(card(t('arc.base'), h('dl', { class: 'kv' },
    kv(t('ent.name'), e.name), kv(t('ent.code'), h('span', { class: 'mono' }, e.code)),
    kv(t('ent.uscc'), h('span', { class: 'mono' }, e.uscc)), kv(t('ent.industry'), codeLabel('industry', e.industry_code)),
    kv(t('common.district'), e.district.name), kv(t('common.street'), e.street ? e.street.name : null),
    kv(t('arc.address'), e.address), kv(t('arc.coord'), e.longitude != null ? `${e.longitude}, ${e.latitude}` : null),
    kv(t('ent.status'), tv('status', e.status)), kv(t('ent.conn'), tv('conn', e.connection_status)),
    kv(t('arc.principal'), [e.principal_name, e.principal_phone].filter(Boolean).join(' ') || null),
    kv(t('arc.safety'), [e.safety_manager_name, e.safety_manager_phone].filter(Boolean).join(' ') || null),
    kv(t('arc.updated'), fmtTime(e.updated_at)), kv('', '')),
    canEdit ? h('button', { class: 'btn sm primary', 'data-action': 'edit-archive', onclick: () => archiveForm(ctx, e) }, ctx.isEnt ? t('d17.edit.contacts') : t('d17.edit.archive')) : null));
}

function dust(body, ctx, e, data) {
  const kv = (k, v) => [h('dt', null, k), h('dd', null, v ?? t('common.na'))];
  body.append(card(t('arc.dust'), h('dl', { class: 'kv' },
    kv(t('ent.dust'), (e.dust_kinds || []).map(k => lbl('dust_kind', k)).join('、') || null), kv(t('arc.workers'), e.dust_workers),
    kv(t('arc.zones'), `${e.zone20_count} / ${e.zone21_count} / ${e.zone22_count}`),
    kv(t('arc.building'), [e.building_storeys === 'multi' ? '多层' : '单层', e.building_frame === 'frame' ? '框架' : '非框架'].join(' · ')),
    kv(t('arc.gathering'), e.gathering_rooms),
    kv('Kst / MIE', e.explosibility ? Object.entries(e.explosibility).map(([k, v]) => `${k}: ${v}`).join('，') : null))));
  const prot = s => Object.entries(s.protection || {}).filter(([, v]) => v).map(([k]) => t('prot.' + k)).join('、') || t('common.none');
  body.append(card(t('arc.dust'), table([
    { title: t('sys.code'), key: 'code' }, { title: t('sys.name'), key: 'name' }, { title: t('sys.workshop'), key: 'workshop' },
    { title: t('sys.type'), render: s => codeLabel('collector_type', s.collector_type) }, { title: t('sys.wet'), render: s => s.wet ? t('common.yes') : t('common.no') },
    { title: t('sys.central'), render: s => s.central ? t('common.yes') : t('common.no') },
    { title: t('sys.airflow'), class: 'num', render: s => withUnit(s.airflow_m3h, 'm³/h', 0) },
    { title: t('sys.protection'), render: prot }, { title: t('arc.points'), class: 'num', key: 'points' },
  ], data.systems, { empty: empty(t('mon.nosys')) }), null, { flush: true }));
}

// a catalogue code as its label; the code itself on hover (null: n/a)
export function codeLabel(domain, code) {
  return code == null || code === '' ? null : h('span', { title: code, 'data-code': code }, lbl(domain, code));
}

export function limitText(p) {
  const l = p.limits || {};
  const parts = [];
  if (l.low_low != null) parts.push(t('pt.ll') + ' ' + l.low_low);
  if (l.low != null) parts.push(t('pt.low') + ' ' + l.low);
  if (l.high != null) parts.push(t('pt.high') + ' ' + l.high);
  if (l.high_high != null) parts.push(t('pt.hh') + ' ' + l.high_high);
  return parts.length ? parts.join(' · ') + (p.unit ? ' ' + unitText(p.unit) : '') : t('common.na');
}
// alarm state of a point from its latest value (the engine's limits, no deadband)
export function pointState(p, openAlarm) {
  if (openAlarm) return openAlarm.level >= 2 ? 'hh' : openAlarm.level === 1 ? 'high' : 'off';
  if (!p.online || !p.latest) return 'off';
  const v = p.latest.value, l = p.limits || {};
  if (p.value_type === 'digital' || p.value_type === 'bool') return 'ok';
  if ((l.high_high != null && v >= l.high_high) || (l.low_low != null && v <= l.low_low)) return 'hh';
  if ((l.high != null && v >= l.high) || (l.low != null && v <= l.low)) return 'high';
  return 'ok';
}

async function points(body, ctx, e) {
  const box = h('div', null, loading());
  const stamp = h('span');
  body.append(card(t('arc.points'), box, stamp, { flush: true }));
  async function load() {
    let r;
    try { r = await api(`/api/v1/enterprises/${e.id}/points`); } catch (ex) { fill(box, errorBox(ex)); return; }
    if (!ctx.alive) return;
    const st = { ok: ['ok', '正常'], high: ['warn', '超限'], hh: ['bad', '严重超限'], off: ['muted', '离线'] };
    fill(box, table([
      { title: t('pt.code'), render: p => h('span', { class: 'mono' }, p.code) },
      { title: t('pt.name'), key: 'name' }, { title: t('pt.kind'), key: 'kind_name' },
      { title: t('pt.value'), class: 'num', render: p => h('b', { 'data-point-value': p.id }, p.latest ? withUnit(p.latest.value, p.unit) : t('common.na')) },
      { title: t('pt.limits'), render: limitText },
      { title: t('common.state'), render: p => { const s = st[pointState(p)]; return h('span', { class: 'tag ' + s[0] }, s[1]); } },
      { title: t('pt.ts'), render: p => p.latest ? h('span', { title: fmtTime(p.latest.ts, true) }, ago(p.latest.ts)) : t('common.na') },
      { title: t('pt.class'), render: p => p.param_class === 'mandatory' ? '必接' : (p.param_class || '') },
    ], r.items, { empty: empty(t('mon.nosys')), attrs: { 'data-testid': 'points-table' } }));
    stamp.textContent = t('common.updated', { t: fmtTime(Date.now(), true) });
  }
  await load();
  let pending = null;
  onLive(ctx, ev => { if (ev.type === 'ingest' && ev.enterprise_id === e.id && !pending) pending = setTimeout(() => { pending = null; load(); }, 500); });
  const timer = setInterval(load, 15000);
  ctx.onLeave(() => { clearInterval(timer); clearTimeout(pending); });
}

async function risk(body, ctx, e, data, riskNow) {
  if (!hasRoute('GET', '/api/v1/enterprises/{id}/risk')) { body.append(card(t('arc.risk'), missingRoute('GET /api/v1/enterprises/{id}/risk'))); return; }
  const cur = riskNow && riskNow.current;
  if (!cur) { body.append(card(t('arc.risk'), empty(t('grade.none'), t('risk.model')))); }
  else {
    const p = cur.parts || {};
    const partBar = (label, v, max) => h('div', { style: { margin: '6px 0' } }, h('div', { style: { display: 'flex', justifyContent: 'space-between', fontSize: '13px' } }, h('span', null, label), h('b', null, fmtNum(v, 2))),
      h('div', { class: 'progress' }, h('i', { style: { width: Math.min(100, (v || 0) / max * 100) + '%' } })));
    const rules = cur.rules || [];
    body.append(h('div', { class: 'grid g2' },
      card(t('risk.why'), h('div', { 'data-testid': 'risk-breakdown' },
        h('div', { style: { display: 'flex', gap: '14px', alignItems: 'center', marginBottom: '10px' } }, gradeTag(cur.grade),
          h('span', { style: { fontSize: '26px', fontWeight: 700 } }, (+cur.r).toFixed(1)), h('span', { class: 'muted' }, `${t('risk.model')} ${cur.model_version} · ${fmtTime(cur.computed_at)}`)),
        cur.override ? h('div', { class: 'err' }, t('risk.override') + '：' + (cur.override_reason || '')) : null,
        partBar(t('risk.inherent'), p.i, 100), partBar('A 报警 alarms', p.a, 1), partBar('H 处置 handling', p.h, 1), partBar('S 现场管理 on-site', p.s, 1),
        h('div', { class: 'muted', style: { fontSize: '12px', marginTop: '8px' } }, 'R = min(100, I × (1 + wA·A + wH·H + wS·S))'))),
      card(t('risk.rules'), table([
        { title: t('risk.rules'), render: r => codeLabel('risk_rule', r.code) },
        { title: '+', class: 'num', render: r => r.contribution != null ? fmtNum(r.contribution, 2) : (r.points != null ? fmtNum(r.points, 2) : (r.value != null ? fmtNum(r.value, 2) : '')) },
        { title: t('common.note'), render: r => r.part ? t('risk.part.' + r.part, {}, r.part) : '' },
      ], rules, { empty: empty(t('common.none')) }), null, { flush: true })));
  }
  const chartEl = h('div', { class: 'chart' });
  body.append(card(t('risk.history'), chartEl));
  if (!hasRoute('GET', '/api/v1/enterprises/{id}/risk/history')) { chartEl.replaceWith(missingRoute('GET /api/v1/enterprises/{id}/risk/history')); return; }
  const from = new Date(Date.now() - 30 * 86400e3).toISOString();
  const hist = await api(`/api/v1/enterprises/${e.id}/risk/history?from=${encodeURIComponent(from)}&limit=1000`).catch(ex => ({ error: ex }));
  if (hist.error) { chartEl.replaceWith(errorBox(hist.error)); return; }
  const items = (hist.items || []).slice().reverse();
  if (!items.length) { chartEl.replaceWith(empty()); return; }
  await chart(chartEl, ctx, {
    grid: { left: 40, right: 16, top: 20, bottom: 50 }, tooltip: { trigger: 'axis' },
    xAxis: { type: 'time' }, yAxis: { type: 'value', min: 0, max: 100 }, dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 6 }],
    visualMap: { show: false, pieces: [{ lt: 35, color: '#2a7de1' }, { gte: 35, lt: 55, color: '#f2c200' }, { gte: 55, lt: 75, color: '#ff7d00' }, { gte: 75, color: '#e02d2d' }] },
    series: [{ type: 'line', step: 'end', showSymbol: false, data: items.map(i => [i.computed_at, +i.r]),
      markLine: { silent: true, symbol: 'none', lineStyle: { type: 'dashed', color: '#ccc' }, data: [{ yAxis: 35 }, { yAxis: 55 }, { yAxis: 75 }] } }],
  });
}

async function alarms(body, ctx, e) {
  body.append(await alarmTable(ctx, { enterprise: e.id }));
}
async function warnings(body, ctx, e) {
  body.append(await warningTable(ctx, { enterprise: e.id }));
}
async function cleaning(body, ctx, e) {
  await cleaningPanel(body, ctx, e);
}
async function assets(body, ctx, e) {
  await assetsPanel(body, ctx, e);
}
// the enterprise's duty roster (SMS of to_duty subscriptions): the enterprise and the
// government administrators of its city/district edit it here
async function roster(body, ctx, e) {
  body.append(await rosterCard(ctx, e.id));
}
async function keys(body, ctx, e) {
  await keysPanel(body, ctx, e.id);
}
