// 设备与接入: an enterprise's dust-removal systems (with their points),
// cameras, gateways and ingest credentials.  Write buttons appear only where
// the route table (GET /api/v1/routes: roles, admin_only) admits the caller,
// so page and server agree on who may do what; the server checks again.
// A refused write shows the server's words (code, detail) next to the form
// or above the list it concerns.  A new credential's secret lives only in the
// one modal that shows it: it is neither kept nor shown again.
import { api, hasRoute, mayUse } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, fmtTime, fmtNum, missingRoute, formModal, formRow, select, toast, loading, modal, withUnit, unitText } from '../ui.js';
import { limitText } from './enterprise.js';

const COLLECTORS = ['bag', 'cartridge', 'cyclone', 'settling', 'wet_scrubber', 'water_curtain', 'other'];
const PROTECTION = ['venting', 'isolation', 'suppression', 'inerting', 'airlock', 'spark_detection'];
const SYS_FLAGS = ['wet', 'central', 'positive_pressure', 'indoor'];
const DIALECTS = ['native', 'hebei', 'mem'];
const CRED_KINDS = ['api_key', 'hebei_des', 'mem_sm4'];
const PARAM_CLASSES = ['mandatory', 'conditional', 'optional'];
// indicator_kinds (migrations/0002_ingest.sql): code, name, unit, Hebei code
const KINDS = [['hopper_temp', '灰斗温度', '℃', '01'], ['pressure_diff', '进出口压差', 'Pa', '02'], ['airlock_fault', '锁气卸灰故障', '', '03'],
  ['spark_detected', '火花探测', '', '04'], ['fan_running', '风机运行', '', '05'], ['water_level', '水位', 'mm', '06'],
  ['water_flow', '水流量', 'm³/h', '07'], ['hydrogen_lel', '氢气浓度', '%LEL', '08'], ['oxygen', '氧含量', '%vol', '09'],
  ['bearing_temp', '轴承温度', '℃', '10'], ['dust_conc', '粉尘浓度', 'mg/m³', '11'], ['inlet_pressure', '入口压力', 'Pa', '12'],
  ['power_on', '设备上电', '', '13']];

const yesNo = v => v ? t('common.yes') : t('common.no');
const mono = v => h('span', { class: 'mono' }, v);
const onOff = (on, yes, no) => h('span', { class: 'tag ' + (on ? 'ok' : 'muted') }, on ? yes : no);
const input = (name, value, attrs) => h('input', { type: 'text', name, value: value ?? '', ...(attrs || {}) });
const num = (name, value, attrs) => h('input', { type: 'number', step: 'any', name, value: value ?? '', ...(attrs || {}) });
const check = (name, on, label) => h('label', { style: { marginRight: '12px', whiteSpace: 'nowrap' } }, h('input', { type: 'checkbox', name, checked: !!on }), ' ', label);
const checks = (items) => h('div', { style: { display: 'flex', flexWrap: 'wrap', gap: '4px 0' } }, items);

// the server's refusal, in words, with a way out when there is one
function errLine(ex, extra) {
  return h('div', { class: 'err', role: 'alert', 'data-testid': 'asset-error' }, ex && ex.message || String(ex), extra ? [' ', extra] : null);
}

function confirmModal(title, text, label) {
  return new Promise(ok => {
    let done = false;
    const finish = v => { if (!done) { done = true; ok(v); } m.close(); };
    const m = modal(title, h('p', null, text), [
      h('button', { class: 'btn', type: 'button', onclick: () => finish(false) }, t('common.cancel')),
      h('button', { class: 'btn danger', type: 'button', 'data-action': 'confirm', onclick: () => finish(true) }, label)]);
    // closed by × or the backdrop: no
    new MutationObserver((_, obs) => { if (!m.el.isConnected) { obs.disconnect(); if (!done) { done = true; ok(false); } } }).observe(document.body, { childList: true });
  });
}

// one card: title, optional add button, a message line, the list
function section(title, testid, addLabel, onAdd) {
  const msg = h('div', { 'data-testid': testid + '-msg', style: { padding: '0 14px' } });
  const box = h('div', null, loading());
  const el = card(title, h('div', null, msg, box),
    onAdd ? h('button', { class: 'btn sm primary', 'data-action': 'new-' + testid, onclick: () => { clear(msg); onAdd(); } }, '+ ' + addLabel) : null,
    { flush: true, 'data-testid': testid });
  return {
    el, msg, box,
    fail(ex, extra) { fill(msg, errLine(ex, extra)); },
    // run a row action; its refusal stays above the list
    async run(fn, okText) {
      clear(msg);
      try { await fn(); if (okText) toast(okText, 'ok'); } catch (ex) { if (ex && ex.name !== 'AbortError') this.fail(ex); }
    },
  };
}

// form values -> body: text trimmed, empties left out on create and sent as
// null on change where the field may be null
function pick(form, spec, create) {
  const body = {};
  for (const [name, type, nullable] of spec) {
    const el = form.elements[name];
    if (!el || el.disabled) continue;
    if (type === 'bool') { body[name] = el.checked; continue; }
    const raw = el.value.trim();
    if (raw === '') { if (!create && nullable) body[name] = null; continue; }
    body[name] = type === 'int' ? parseInt(raw, 10) : type === 'num' ? Number(raw) : type === 'id' ? Number(raw) : raw;
  }
  return body;
}

export async function assetsPanel(body, ctx, e) {
  const may = (m, p) => mayUse(ctx.me, m, p);
  const eid = e.id;
  let systemsList = [];
  const parts = [];
  if (hasRoute('GET', '/api/v1/enterprises/{id}/systems')) parts.push(systemsSection(ctx, e, may, list => { systemsList = list; }));
  else body.append(card(t('as.systems'), missingRoute('GET /api/v1/enterprises/{id}/systems')));
  if (hasRoute('GET', '/api/v1/enterprises/{id}/cameras')) parts.push(camerasSection(ctx, eid, may, () => systemsList));
  else body.append(card(t('as.cameras'), missingRoute('GET /api/v1/enterprises/{id}/cameras')));
  if (hasRoute('GET', '/api/v1/enterprises/{id}/gateways')) parts.push(gatewaysSection(ctx, eid, may));
  if (hasRoute('GET', '/api/v1/enterprises/{id}/ingest-credentials')) parts.push(credentialsSection(ctx, eid, may));
  for (const p of parts) body.append(p.el);
  // systems first: the camera form offers them
  if (parts.length) await parts[0].load();
  await Promise.all(parts.slice(1).map(p => p.load()));
}

// ---- dust-removal systems and their points ---------------------------------
function systemsSection(ctx, ent, may, onSystems) {
  const eid = ent.id;
  const canAdd = may('POST', '/api/v1/enterprises/{id}/systems');
  const canEdit = may('PATCH', '/api/v1/systems/{id}'), canDel = may('DELETE', '/api/v1/systems/{id}');
  const canAddPt = may('POST', '/api/v1/enterprises/{id}/points');
  const canEditPt = may('PATCH', '/api/v1/points/{id}'), canDelPt = may('DELETE', '/api/v1/points/{id}');
  const sec = section(t('as.systems'), 'systems', t('sys.new'), canAdd ? () => form(null) : null);
  const open = new Set(); // systems whose points are unfolded
  let points = [];

  async function load() {
    let r, p;
    try {
      [r, p] = await Promise.all([api(`/api/v1/enterprises/${eid}/systems`), api(`/api/v1/enterprises/${eid}/points`).catch(() => ({ items: [] }))]);
    } catch (ex) { fill(sec.box, errLine(ex)); return; }
    if (!ctx.alive) return;
    points = p.items || [];
    onSystems(r.items);
    const prot = s => PROTECTION.filter(k => s.protection && s.protection[k]).map(k => t('prot.' + k)).join('、') || t('common.none');
    const tbl = table([
      { title: t('sys.code'), render: s => mono(s.code) }, { title: t('sys.name'), key: 'name' }, { title: t('sys.workshop'), key: 'workshop' },
      { title: t('sys.type'), render: s => tv('ctype', s.collector_type) }, { title: t('sys.wet'), render: s => yesNo(s.wet) },
      { title: t('sys.central'), render: s => yesNo(s.central) }, { title: t('sys.airflow'), class: 'num', render: s => withUnit(s.airflow_m3h, 'm³/h', 0) },
      { title: t('sys.protection'), render: prot }, { title: t('sys.cameras'), class: 'num', key: 'cameras' },
      { title: t('common.actions'), render: s => h('span', { style: { whiteSpace: 'nowrap' } },
        h('button', { class: 'btn sm', 'data-action': 'points', onclick: () => toggle(s) }, `${t('sys.points')} (${s.points}) ${open.has(s.id) ? '▴' : '▾'}`), ' ',
        canEdit ? h('button', { class: 'btn sm', 'data-action': 'edit', onclick: () => form(s) }, t('as.edit')) : null, ' ',
        canDel ? h('button', { class: 'btn sm danger', 'data-action': 'delete', onclick: () => remove(s) }, t('as.delete')) : null) },
    ], r.items, { empty: empty(t('sys.none'), canAdd ? null : t('as.readonly')), attrs: { 'data-testid': 'systems-table' }, rowAttrs: s => ({ 'data-system-id': s.id }) });
    fill(sec.box, tbl);
    for (const s of r.items) if (open.has(s.id)) unfold(s, tbl);
  }
  function toggle(s) {
    if (open.has(s.id)) open.delete(s.id); else open.add(s.id);
    load();
  }
  function unfold(s, tbl) {
    const tr = tbl.querySelector(`tr[data-system-id="${s.id}"]`);
    if (!tr) return;
    const mine = points.filter(p => p.system_id === s.id);
    const add = canAddPt ? h('button', { class: 'btn sm primary', 'data-action': 'new-point', onclick: () => pointForm(s, null) }, '+ ' + t('pt.new')) : null;
    const list = table([
      { title: t('pt.code'), render: p => mono(p.code) }, { title: t('pt.name'), key: 'name' }, { title: t('pt.kind'), key: 'kind_name' },
      { title: t('pt.unit'), render: p => unitText(p.unit) }, { title: t('pt.limits'), render: limitText },
      { title: t('pt.class'), render: p => tv('pclass', p.param_class) },
      { title: t('common.state'), render: p => onOff(p.enabled, t('pt.enabled'), t('pt.disabled')) },
      (canEditPt || canDelPt) && { title: t('common.actions'), render: p => h('span', { style: { whiteSpace: 'nowrap' } },
        canEditPt ? h('button', { class: 'btn sm', 'data-action': p.enabled ? 'disable' : 'enable', onclick: () => setEnabled(p, !p.enabled) }, p.enabled ? t('pt.disable') : t('pt.enable')) : null, ' ',
        canEditPt ? h('button', { class: 'btn sm', 'data-action': 'edit-point', onclick: () => pointForm(s, p) }, t('as.edit')) : null, ' ',
        canDelPt ? h('button', { class: 'btn sm danger', 'data-action': 'delete-point', onclick: () => removePoint(p) }, t('as.delete')) : null) },
    ].filter(Boolean), mine, { empty: empty(t('pt.none')), rowAttrs: p => ({ 'data-point-id': p.id }) });
    tr.after(h('tr', { class: 'sub', 'data-points-of': s.id }, h('td', { colspan: 10, style: { background: '#f7f9fc', padding: '8px 14px' } },
      add ? h('div', { style: { marginBottom: '6px' } }, add) : null, list)));
  }

  function form(s) {
    const fields = [['code', 'text'], ['name', 'text'], ['workshop', 'text'], ['collector_type', 'text'], ['airflow_m3h', 'int', true],
      ...SYS_FLAGS.map(f => [f, 'bool'])];
    formModal(s ? t('sys.edit') : t('sys.new'), [
      formRow(t('sys.code'), input('code', s && s.code, { required: true, maxlength: 32, pattern: '[0-9A-Za-z_-]{1,32}', placeholder: '02' })),
      formRow(t('sys.name'), input('name', s && s.name, { required: true, maxlength: 100, placeholder: '2号除尘系统' })),
      formRow(t('sys.workshop'), input('workshop', s && s.workshop, { maxlength: 100 })),
      formRow(t('sys.type'), select('collector_type', COLLECTORS.map(c => [c, tv('ctype', c)]), s ? s.collector_type : 'bag')),
      formRow(t('sys.airflow'), num('airflow_m3h', s && s.airflow_m3h, { min: 1, step: 1 })),
      formRow('', checks([check('wet', s && s.wet, t('sys.wet')), check('central', s ? s.central : true, t('sys.central')),
        check('positive_pressure', s && s.positive_pressure, t('sys.pp')), check('indoor', s && s.indoor, t('sys.indoor'))])),
      formRow(t('sys.protection'), checks(PROTECTION.map(k => check('prot_' + k, s && s.protection && s.protection[k], t('prot.' + k))))),
    ], async (v, f) => {
      const b = pick(f, fields, !s);
      b.protection = Object.fromEntries(PROTECTION.map(k => [k, f.elements['prot_' + k].checked]));
      if (s) await api('/api/v1/systems/' + s.id, { method: 'PATCH', body: b });
      else await api(`/api/v1/enterprises/${eid}/systems`, { method: 'POST', body: b });
      toast(t('as.saved'), 'ok');
      await load();
    }, t('common.save'));
  }
  async function remove(s) {
    if (!await confirmModal(t('as.delete'), t('as.confirm.delete', { x: `${s.code} ${s.name}` }), t('as.delete'))) return;
    await sec.run(async () => { await api('/api/v1/systems/' + s.id, { method: 'DELETE' }); await load(); }, t('as.deleted'));
  }

  function pointForm(s, p) {
    const kindCode = k => (KINDS.find(x => x[0] === k) || [])[3] || '01';
    const example = `${ent.code}${s.code}01001`;
    const lim = (p && p.limits) || {};
    const rows = [];
    if (!p) {
      rows.push(formRow(t('pt.code'), input('code', '', { required: true, minlength: 4, maxlength: 40, placeholder: example, title: t('pt.code.hint', { x: example }) })),
        formRow(t('pt.kind'), select('kind', KINDS.map(([c, n, u]) => [c, u ? `${n}（${u}）` : n]), 'hopper_temp', { onchange: ev => {
          const code = ev.target.form.elements.code;
          if (!code.value) code.placeholder = `${ent.code}${s.code}${kindCode(ev.target.value)}001`;
        } })));
    }
    // the unit is fixed with the point, like its code and kind (PATCH /points/{id} has no unit)
    if (!p) rows.push(formRow(t('pt.unit'), input('unit', '', { maxlength: 20, placeholder: t('common.na') })));
    rows.push(formRow(t('pt.name'), input('name', p && p.name, { maxlength: 100 })),
      formRow(t('pt.class'), select('param_class', PARAM_CLASSES.map(c => [c, tv('pclass', c)]), p ? p.param_class : 'mandatory')),
      formRow(t('pt.range'), h('div', { style: { display: 'flex', gap: '6px' } }, num('range_min', p && p.range_min, { placeholder: 'min' }), num('range_max', p && p.range_max, { placeholder: 'max' }))),
      formRow(`${t('pt.ll')} / ${t('pt.low')}`, h('div', { style: { display: 'flex', gap: '6px' } }, num('limit_low_low', lim.low_low), num('limit_low', lim.low))),
      formRow(`${t('pt.high')} / ${t('pt.hh')}`, h('div', { style: { display: 'flex', gap: '6px' } }, num('limit_high', lim.high), num('limit_high_high', lim.high_high))),
      formRow(t('pt.interval'), num('expected_interval_s', p ? p.expected_interval_s : 60, { min: 1, max: 86400, step: 1 })));
    const fields = [['code', 'text'], ['kind', 'text'], ['name', 'text'], ['unit', 'text'], ['param_class', 'text'],
      ['range_min', 'num', true], ['range_max', 'num', true], ['limit_low_low', 'num', true], ['limit_low', 'num', true],
      ['limit_high', 'num', true], ['limit_high_high', 'num', true], ['expected_interval_s', 'int']];
    formModal((p ? t('pt.edit') : t('pt.new')) + ' · ' + s.name, rows, async (v, f) => {
      const b = pick(f, fields, !p);
      if (p) {
        // PATCH /points/{id} takes limits as the list shows them
        await api('/api/v1/points/' + p.id, { method: 'PATCH', body: b });
      } else {
        b.system_id = s.id;
        await api(`/api/v1/enterprises/${eid}/points`, { method: 'POST', body: b });
      }
      toast(t('as.saved'), 'ok');
      open.add(s.id);
      await load();
    }, t('common.save'));
  }
  async function setEnabled(p, on) {
    await sec.run(async () => { await api('/api/v1/points/' + p.id, { method: 'PATCH', body: { enabled: on } }); await load(); }, t('as.saved'));
  }
  async function removePoint(p) {
    if (!await confirmModal(t('as.delete'), t('as.confirm.delete', { x: `${p.code} ${p.name || ''}` }), t('as.delete'))) return;
    clear(sec.msg);
    try { await api('/api/v1/points/' + p.id, { method: 'DELETE' }); toast(t('as.deleted'), 'ok'); await load(); } catch (ex) {
      // a point with data is kept: offer what the server advises
      const instead = ex.code === 'in_use' && p.enabled && canEditPt
        ? h('button', { class: 'btn sm', 'data-action': 'disable-instead', onclick: () => setEnabled(p, false) }, t('pt.disable.instead')) : null;
      sec.fail(ex, instead);
    }
  }
  return { el: sec.el, load };
}

// ---- cameras ----------------------------------------------------------------
function camerasSection(ctx, eid, may, systems) {
  const canAdd = may('POST', '/api/v1/enterprises/{id}/cameras');
  const canEdit = may('PATCH', '/api/v1/cameras/{id}'), canDel = may('DELETE', '/api/v1/cameras/{id}');
  const sec = section(t('as.cameras'), 'cameras', t('cam.new'), canAdd ? () => form(null) : null);
  const sysName = id => { const s = systems().find(x => x.id === id); return s ? `${s.code} ${s.name}` : t('common.na'); };
  async function load() {
    let r;
    try { r = await api(`/api/v1/enterprises/${eid}/cameras`); } catch (ex) { fill(sec.box, errLine(ex)); return; }
    if (!ctx.alive) return;
    fill(sec.box, table([
      { title: t('cam.code'), render: c => mono(c.code) }, { title: t('cam.name'), key: 'name' }, { title: t('cam.system'), render: c => sysName(c.system_id) },
      { title: t('cam.location'), key: 'location' },
      // the playback/live link: an HLS or vendor web URL opens in a new tab; rtsp/rtmp need a player
      { title: t('cam.stream'), render: c => !c.stream_url ? t('common.na') : /^https?:/.test(c.stream_url)
        ? h('a', { class: 'btn sm', href: c.stream_url, target: '_blank', rel: 'noopener noreferrer', 'data-action': 'playback' }, t('d17.cam.play'))
        : h('span', { class: 'mono', style: { wordBreak: 'break-all' }, title: t('d17.cam.player') }, c.stream_url) },
      { title: t('common.state'), render: c => c.status ? h('span', { class: 'tag ' + ({ online: 'ok', offline: 'bad', disabled: 'muted' }[c.status] || 'muted'), 'data-camera-status': c.status, title: c.last_video_at ? fmtTime(c.last_video_at, true) : '' }, t('d17.cam.' + c.status))
        : onOff(c.enabled, t('pt.enabled'), t('pt.disabled')) },
      { title: t('cam.last_alarm'), render: c => fmtTime(c.last_alarm_at) },
      (canEdit || canDel) && { title: t('common.actions'), render: c => h('span', { style: { whiteSpace: 'nowrap' } },
        canEdit ? h('button', { class: 'btn sm', 'data-action': 'edit', onclick: () => form(c) }, t('as.edit')) : null, ' ',
        canDel ? h('button', { class: 'btn sm danger', 'data-action': 'delete', onclick: () => remove(c) }, t('as.delete')) : null) },
    ].filter(Boolean), r.items, { empty: empty(t('cam.empty')), attrs: { 'data-testid': 'cameras-table' }, rowAttrs: c => ({ 'data-camera-code': c.code }) }));
  }
  function form(c) {
    const fields = [['code', 'text'], ['name', 'text'], ['system_id', 'id', true], ['location', 'text'], ['stream_url', 'text', true], ['enabled', 'bool']];
    formModal(c ? t('cam.edit') : t('cam.new'), [
      // the code names the camera in video alarms: fixed once created
      formRow(t('cam.code'), input('code', c && c.code, { required: true, maxlength: 64, disabled: !!c, placeholder: 'CAM-01' })),
      formRow(t('cam.name'), input('name', c && c.name, { required: true, maxlength: 100, placeholder: '1号除尘器卸灰口' })),
      formRow(t('cam.system'), select('system_id', [['', t('common.none')], ...systems().map(s => [s.id, `${s.code} ${s.name}`])], c ? c.system_id : '')),
      formRow(t('cam.location'), input('location', c && c.location, { maxlength: 200 })),
      formRow(t('cam.stream'), input('stream_url', c && c.stream_url, { maxlength: 500, placeholder: 'rtsp://…' })),
      formRow('', check('enabled', c ? c.enabled : true, t('cam.enabled'))),
    ], async (v, f) => {
      const b = pick(f, fields, !c);
      if (c) await api('/api/v1/cameras/' + c.id, { method: 'PATCH', body: b });
      else await api(`/api/v1/enterprises/${eid}/cameras`, { method: 'POST', body: b });
      toast(t('as.saved'), 'ok');
      await load();
    }, t('common.save'));
  }
  async function remove(c) {
    if (!await confirmModal(t('as.delete'), t('as.confirm.delete', { x: `${c.code} ${c.name}` }), t('as.delete'))) return;
    clear(sec.msg);
    try { await api('/api/v1/cameras/' + c.id, { method: 'DELETE' }); toast(t('as.deleted'), 'ok'); await load(); } catch (ex) {
      const instead = ex.code === 'in_use' && c.enabled && canEdit ? h('button', { class: 'btn sm', 'data-action': 'disable-instead', onclick: () => sec.run(async () => {
        await api('/api/v1/cameras/' + c.id, { method: 'PATCH', body: { enabled: false } }); await load();
      }, t('as.saved')) }, t('pt.disable')) : null;
      sec.fail(ex, instead);
    }
  }
  return { el: sec.el, load };
}

// ---- gateways ---------------------------------------------------------------
function gatewaysSection(ctx, eid, may) {
  const canAdd = may('POST', '/api/v1/enterprises/{id}/gateways');
  const canEdit = may('PATCH', '/api/v1/gateways/{id}'), canDel = may('DELETE', '/api/v1/gateways/{id}');
  const sec = section(t('as.gateways'), 'gateways', t('gw.new'), canAdd ? () => form(null) : null);
  async function load() {
    let r;
    try { r = await api(`/api/v1/enterprises/${eid}/gateways`); } catch (ex) { fill(sec.box, errLine(ex)); return; }
    if (!ctx.alive) return;
    fill(sec.box, table([
      { title: t('gw.code'), render: g => mono(g.code) }, { title: t('gw.name'), key: 'name' }, { title: t('gw.dialect'), render: g => tv('dialect', g.dialect) },
      { title: t('gw.seen'), render: g => g.last_seen_at ? h('span', { 'data-gateway-seen': g.last_seen_at, title: fmtTime(g.last_seen_at, true) }, fmtTime(g.last_seen_at))
        : h('span', { class: 'muted', title: r.items.length > 1 ? t('d17.gw.unnamed') : '' }, t('common.na')) }, { title: t('key.created'), render: g => fmtTime(g.created_at) },
      (canEdit || canDel) && { title: t('common.actions'), render: g => h('span', { style: { whiteSpace: 'nowrap' } },
        canEdit ? h('button', { class: 'btn sm', 'data-action': 'edit', onclick: () => form(g) }, t('as.edit')) : null, ' ',
        canDel ? h('button', { class: 'btn sm danger', 'data-action': 'delete', onclick: () => remove(g) }, t('as.delete')) : null) },
    ].filter(Boolean), r.items, { empty: empty(t('gw.empty')), attrs: { 'data-testid': 'gateways-table' }, rowAttrs: g => ({ 'data-gateway-code': g.code }) }));
  }
  function form(g) {
    const fields = [['code', 'text'], ['name', 'text'], ['dialect', 'text']];
    formModal(g ? t('gw.edit') : t('gw.new'), [
      formRow(t('gw.code'), input('code', g && g.code, { required: true, minlength: 2, maxlength: 40, placeholder: 'GW-310113000001-01' })),
      formRow(t('gw.name'), input('name', g && g.name, { maxlength: 100 })),
      formRow(t('gw.dialect'), select('dialect', DIALECTS.map(d => [d, tv('dialect', d)]), g ? g.dialect : 'native')),
    ], async (v, f) => {
      const b = pick(f, fields, !g);
      if (g) await api('/api/v1/gateways/' + g.id, { method: 'PATCH', body: b });
      else await api(`/api/v1/enterprises/${eid}/gateways`, { method: 'POST', body: b });
      toast(t('as.saved'), 'ok');
      await load();
    }, t('common.save'));
  }
  async function remove(g) {
    if (!await confirmModal(t('as.delete'), t('as.confirm.delete', { x: g.code }), t('as.delete'))) return;
    await sec.run(async () => { await api('/api/v1/gateways/' + g.id, { method: 'DELETE' }); await load(); }, t('as.deleted'));
  }
  return { el: sec.el, load };
}

// ---- ingest credentials -----------------------------------------------------
function credentialsSection(ctx, eid, may) {
  const canIssue = may('POST', '/api/v1/enterprises/{id}/ingest-credentials');
  const canRevoke = may('DELETE', '/api/v1/ingest-credentials/{id}');
  const sec = section(t('as.creds'), 'credentials', t('cred.new'), canIssue ? issue : null);
  sec.box.before(h('div', { class: 'note', 'data-testid': 'creds-what', style: { margin: '10px 14px' } }, t('d17.creds.what')));
  async function load() {
    let r;
    try { r = await api(`/api/v1/enterprises/${eid}/ingest-credentials`); } catch (ex) { fill(sec.box, errLine(ex)); return; }
    if (!ctx.alive) return;
    fill(sec.box, table([
      { title: t('cred.kind'), render: c => tv('credkind', c.kind) }, { title: t('cred.label'), key: 'label' },
      { title: t('cred.ident'), render: c => c.prefix ? mono(c.prefix + '…') : c.appid ? mono(c.appid) : t('common.na') },
      { title: t('key.created'), render: c => fmtTime(c.created_at) },
      { title: t('common.state'), render: c => c.active ? onOff(true, t('cred.active')) : h('span', { class: 'tag muted', title: fmtTime(c.revoked_at, true) }, t('cred.revoked') + ' ' + fmtTime(c.revoked_at)) },
      canRevoke && { title: t('common.actions'), render: c => c.active ? h('button', { class: 'btn sm danger', 'data-action': 'revoke', onclick: () => revoke(c) }, t('cred.revoke')) : '' },
    ].filter(Boolean), r.items, { empty: empty(t('cred.empty')), attrs: { 'data-testid': 'credentials-table' }, rowAttrs: c => ({ 'data-credential-id': c.id, 'data-active': c.active ? '1' : '0' }) }));
  }
  function issue() {
    const appidRow = formRow(t('cred.appid'), input('appid', '', { maxlength: 64, pattern: '[A-Za-z0-9._-]{1,64}' }));
    appidRow.style.display = 'none';
    formModal(t('cred.new'), [
      formRow(t('cred.kind'), select('kind', CRED_KINDS.map(k => [k, tv('credkind', k)]), 'api_key', { onchange: ev => {
        appidRow.style.display = ev.target.value === 'mem_sm4' ? '' : 'none';
      } })),
      formRow(t('cred.label'), input('label', '', { maxlength: 100, placeholder: '1号网关' })),
      appidRow,
    ], async (v, f) => {
      const b = { kind: f.elements.kind.value };
      if (f.elements.label.value.trim()) b.label = f.elements.label.value.trim();
      if (b.kind === 'mem_sm4' && f.elements.appid.value.trim()) b.appid = f.elements.appid.value.trim();
      const r = await api(`/api/v1/enterprises/${eid}/ingest-credentials`, { method: 'POST', body: b });
      showSecretOnce(r);
      await load();
    }, t('cred.new'));
  }
  async function revoke(c) {
    const ident = c.prefix ? c.prefix + '…' : c.appid || tv('credkind', c.kind);
    if (!await confirmModal(t('cred.revoke'), t('cred.confirm.revoke', { x: ident }), t('cred.revoke'))) return;
    await sec.run(async () => { await api('/api/v1/ingest-credentials/' + c.id, { method: 'DELETE' }); await load(); }, t('cred.revoked'));
  }
  return { el: sec.el, load };
}

// The secret exists in this modal only; closing it drops the last reference.
function showSecretOnce(r) {
  const secret = r.secret || {};
  const copy = (text, el) => {
    const manual = () => { const range = document.createRange(); range.selectNodeContents(el); const s = getSelection(); s.removeAllRanges(); s.addRange(range); toast(t('cred.copy.manual'), 'info', 6000); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(() => toast(t('cred.copied'), 'ok'), manual);
    else manual();
  };
  const rows = Object.entries(secret).map(([k, v]) => {
    const val = h('div', { class: 'secret mono', 'data-secret': k, style: { flex: 1 } }, v);
    return h('div', { style: { margin: '8px 0' } }, h('div', { class: 'muted', style: { fontSize: '12px', marginBottom: '2px' } }, t('secret.' + k, {}, k)),
      h('div', { style: { display: 'flex', gap: '8px', alignItems: 'center' } }, val,
        k === 'header' ? null : h('button', { class: 'btn sm', type: 'button', 'data-action': 'copy', onclick: () => copy(v, val) }, t('cred.copy'))));
  });
  modal(t('cred.new') + ' · ' + tv('credkind', r.kind), h('div', { 'data-testid': 'new-secret' },
    h('div', { class: 'err', style: { background: '#fffbe6', borderColor: '#e0b400', color: '#6b5200' } }, t('cred.once')), rows));
}
