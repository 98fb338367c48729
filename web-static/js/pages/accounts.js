// 账号管理 (admins): accounts within the caller's scope, creating them (the
// initial password is shown once), disabling/enabling, unlocking, resetting
// the password (the account must change it), changing role, scope and name;
// enterprise API keys, the audit log.
import { api, hasRoute } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading, modal } from '../ui.js';

const CREATABLE = {
  city_admin: [['city_staff', null], ['city_admin', null], ['district_admin', 'region'], ['district_staff', 'region']],
  district_admin: [['district_staff', null], ['street_staff', 'region'], ['enterprise_manager', 'enterprise'], ['enterprise_staff', 'enterprise']],
  enterprise_manager: [['enterprise_staff', null]],
};

// whom a caller manages (the server decides; this only draws the buttons):
// what it may create, the city every account
const MANAGES = {
  city_admin: ['city_admin', 'city_staff', 'district_admin', 'district_staff', 'street_staff', 'enterprise_manager', 'enterprise_staff'],
  district_admin: ['district_staff', 'street_staff', 'enterprise_manager', 'enterprise_staff'],
  enterprise_manager: ['enterprise_staff'],
};
const TARGET = { city: null, district: 'region', street: 'region', enterprise: 'enterprise' };
const roleKind = r => r.split('_')[0];

function confirmModal(title, text, label) {
  return new Promise(ok => {
    let done = false;
    const finish = v => { if (!done) { done = true; ok(v); } m.close(); };
    const m = modal(title, h('p', null, text), [
      h('button', { class: 'btn', type: 'button', onclick: () => finish(false) }, t('common.cancel')),
      h('button', { class: 'btn danger', type: 'button', 'data-action': 'confirm', onclick: () => finish(true) }, label)]);
    new MutationObserver((_, obs) => { if (!m.el.isConnected) { obs.disconnect(); if (!done) { done = true; ok(false); } } }).observe(document.body, { childList: true });
  });
}

export default async function accountsPage(el, ctx) {
  const tab = ctx.query.get('tab') || 'accounts';
  const tabs = [['accounts', t('acc.list')], ['keys', t('acc.keys')]];
  if (ctx.me.role !== 'enterprise_manager') tabs.push(['audit', t('acc.audit')]);
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('acc.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)),
    h('nav', { class: 'tabs' }, tabs.map(([k, l]) => h('a', { href: '#/accounts?tab=' + k, class: k === tab ? 'active' : null, 'data-tab': k }, l))));
  if (!ctx.isAdmin) { el.append(empty(t('empty.forbidden'))); return; }
  if (tab === 'keys') return keysPage(el, ctx);
  if (tab === 'audit') return audit(el, ctx);
  const box = h('div', null, loading());
  const creatable = CREATABLE[ctx.me.role] || [];
  el.append(card(t('acc.list'), box, creatable.length ? h('button', { class: 'btn sm primary', onclick: create, 'data-action': 'new-account' }, '+ ' + t('acc.create')) : null, { flush: true }));
  async function load() {
    let r;
    try { r = await api('/api/v1/accounts'); } catch (e) { fill(box, errorBox(e)); return; }
    fill(box, table([
      { title: t('acc.username'), render: a => h('span', { class: 'mono' }, a.username) }, { title: t('acc.display'), key: 'display_name' },
      { title: t('acc.role'), render: a => tv('role', a.role) }, { title: t('acc.scope'), render: a => a.enterprise_name || a.region_name || '' },
      { title: t('common.state'), render: a => a.disabled ? h('span', { class: 'tag muted' }, t('acc.disabled')) : a.locked ? h('span', { class: 'tag bad' }, t('acc.locked')) : h('span', { class: 'tag ok' }, '正常') },
      { title: t('acc.last'), render: a => fmtTime(a.last_login_at) },
      { title: t('common.actions'), render: actions },
    ], r.items, { attrs: { 'data-testid': 'accounts-table' }, rowAttrs: a => ({ 'data-username': a.username, 'data-account-id': a.id }) }));
  }
  const manages = MANAGES[ctx.me.role] || [];
  const canAct = hasRoute('POST', '/api/v1/accounts/{id}/disable');
  function actions(a) {
    if (!canAct || a.username === ctx.me.username || !manages.includes(a.role)) return '';
    const btn = (action, label, fn) => h('button', { class: 'btn sm', 'data-action': action, onclick: fn }, label);
    return h('span', { class: 'actions' },
      a.disabled ? btn('enable', t('acc.enable'), () => act(a, 'enable', t('acc.enabled')))
        : btn('disable', t('acc.disable'), async () => {
          if (await confirmModal(t('acc.disable'), t('acc.confirm.disable', { x: a.username }), t('acc.disable'))) act(a, 'disable', t('acc.disabled.ok'));
        }),
      a.locked ? btn('unlock', t('acc.unlock'), () => act(a, 'unlock', t('acc.unlocked'))) : null,
      btn('reset-password', t('acc.reset'), () => resetPassword(a)),
      a.totp_enabled ? btn('reset-totp', t('acc.totp.reset'), async () => {
        if (await confirmModal(t('acc.totp.reset'), t('acc.confirm.totp', { x: a.username }), t('acc.totp.reset'))) act(a, 'reset-totp', t('acc.totp.done'));
      }) : null,
      btn('edit', t('acc.edit'), () => edit(a)));
  }
  async function act(a, action, done) {
    try { await api(`/api/v1/accounts/${a.id}/${action}`, { method: 'POST' }); toast(done, 'ok'); } catch (e) { toast(e.message, 'error'); }
    load();
  }
  function resetPassword(a) {
    formModal(t('acc.reset') + ' · ' + a.username, [
      h('p', null, t('acc.reset.note')),
      formRow(t('login.pw'), h('input', { type: 'password', name: 'password', placeholder: t('acc.pw.optional'), autocomplete: 'new-password' }))],
    async v => {
      const r = await api(`/api/v1/accounts/${a.id}/reset-password`, { method: 'POST', body: v.password ? { password: v.password } : {} });
      toast(t('acc.reset.done'), 'ok');
      if (r.initial_password) modal(t('acc.reset'), h('div', null, h('p', null, t('acc.initial')), h('div', { class: 'secret mono', 'data-testid': 'initial-password' }, r.initial_password)));
      load();
    });
  }
  function edit(a) {
    const targetRow = h('div');
    const roleSel = select('role', manages.map(r => [r, t('role.' + r)]), a.role, { onchange: paintTarget });
    function paintTarget() {
      const kind = TARGET[roleKind(roleSel.value)];
      const same = roleKind(roleSel.value) === roleKind(a.role);
      clear(targetRow);
      if (kind) targetRow.append(formRow(kind === 'region' ? t('acc.target.region') : t('acc.target.ent'),
        h('input', { type: 'text', name: kind, placeholder: same ? t('acc.target.keep') : '', required: !same })));
    }
    paintTarget();
    formModal(t('acc.edit') + ' · ' + a.username, [
      formRow(t('acc.username'), h('input', { type: 'text', name: 'username', value: a.username, required: true, pattern: '[a-z0-9][a-z0-9._\\-]{2,63}' })),
      formRow(t('acc.display'), h('input', { type: 'text', name: 'display_name', value: a.display_name || '', maxlength: 100 })),
      formRow(t('acc.role'), roleSel), targetRow, h('p', { class: 'muted' }, t('acc.edit.note'))],
    async v => {
      const body = {};
      if (v.username && v.username !== a.username) body.username = v.username;
      if ((v.display_name || '') !== (a.display_name || '')) body.display_name = v.display_name || '';
      if (v.role !== a.role) body.role = v.role;
      if (v.region) body.region = v.region;
      if (v.enterprise) body.enterprise = v.enterprise;
      if (!Object.keys(body).length) return;
      const r = await api(`/api/v1/accounts/${a.id}`, { method: 'PATCH', body });
      toast(t('acc.saved') + (r.sessions_ended ? ' · ' + t('acc.sessions.ended', { n: r.sessions_ended }) : ''), 'ok');
      load();
    });
  }
  function create() {
    const targetRow = h('div');
    const roleSel = select('role', creatable.map(([r]) => [r, t('role.' + r)]), creatable[0][0], { onchange: paintTarget });
    function paintTarget() {
      const kind = (creatable.find(([r]) => r === roleSel.value) || [])[1];
      clear(targetRow);
      if (kind) targetRow.append(formRow(kind === 'region' ? t('acc.target.region') : t('acc.target.ent'), h('input', { type: 'text', name: kind, required: true, placeholder: kind === 'region' ? '310113101' : '310113000001' })));
    }
    paintTarget();
    formModal(t('acc.create'), [
      formRow(t('acc.username'), h('input', { type: 'text', name: 'username', required: true, pattern: '[A-Za-z0-9._-]{3,64}' })),
      formRow(t('acc.display'), h('input', { type: 'text', name: 'display_name', maxlength: 100 })),
      formRow(t('acc.role'), roleSel), targetRow,
      formRow(t('login.pw'), h('input', { type: 'password', name: 'password', placeholder: t('acc.pw.optional'), autocomplete: 'new-password' }))],
    async v => {
      const body = {};
      for (const k of ['username', 'display_name', 'role', 'region', 'enterprise', 'password']) if (v[k]) body[k] = v[k];
      const r = await api('/api/v1/accounts', { method: 'POST', body });
      toast(t('acc.created'), 'ok');
      if (r.initial_password) modal(t('acc.created'), h('div', null, h('p', null, t('acc.initial')), h('div', { class: 'secret mono', 'data-testid': 'initial-password' }, r.initial_password)));
      load();
    });
  }
  await load();
}

async function keysPage(el, ctx) {
  if (ctx.isEnt) return keysPanel(el, ctx, ctx.me.scope.id);
  const pick = h('input', { type: 'search', placeholder: t('ent.q'), style: { width: '260px' } });
  const results = h('div');
  const panel = h('div');
  el.append(card(t('key.pick'), h('div', null, h('form', { onsubmit: async e => {
    e.preventDefault();
    const r = await api('/api/v1/enterprises?limit=20&q=' + encodeURIComponent(pick.value)).catch(() => ({ items: [] }));
    fill(results, h('div', { style: { display: 'flex', gap: '6px', flexWrap: 'wrap', marginTop: '8px' } }, r.items.map(x =>
      h('button', { class: 'btn sm', type: 'button', onclick: () => { clear(panel); keysPanel(panel, ctx, x.id, x.name); } }, x.name))));
  } }, pick, ' ', h('button', { class: 'btn primary', type: 'submit' }, t('common.search'))), results)), panel);
}

export async function keysPanel(el, ctx, entId, entName) {
  if (!hasRoute('GET', '/api/v1/enterprises/{id}/api-keys')) { el.append(card(t('arc.keys'), missingRoute('GET /api/v1/enterprises/{id}/api-keys'))); return; }
  const box = h('div', null, loading());
  const canCreate = ['district_admin', 'enterprise_manager'].includes(ctx.me.role);
  el.append(h('div', { class: 'note', 'data-testid': 'keys-what', style: { marginBottom: '10px' } }, t('d17.keys.what')));
  el.append(card(t('arc.keys') + (entName ? ' · ' + entName : ''), box, canCreate ? h('button', { class: 'btn sm primary', 'data-action': 'new-key', onclick: () => formModal(t('key.new'), [
    formRow(t('key.label'), h('input', { type: 'text', name: 'label', maxlength: 100 }))], async v => {
    const r = await api(`/api/v1/enterprises/${entId}/api-keys`, { method: 'POST', body: v.label ? { label: v.label } : {} });
    modal(t('key.new'), h('div', null, h('p', null, t('key.once')), h('div', { class: 'secret mono', 'data-testid': 'new-key' }, r.key)));
    load();
  }) }, '+ ' + t('key.new')) : null, { flush: true }));
  async function load() {
    let r;
    try { r = await api(`/api/v1/enterprises/${entId}/api-keys`); } catch (e) { fill(box, errorBox(e)); return; }
    fill(box, table([
      { title: t('key.prefix'), render: k => h('span', { class: 'mono' }, k.prefix + '…') }, { title: t('key.label'), key: 'label' },
      { title: t('key.created'), render: k => fmtTime(k.created_at) }, { title: t('key.used'), render: k => fmtTime(k.last_used_at) },
      { title: t('common.state'), render: k => k.revoked_at ? h('span', { class: 'tag muted' }, t('key.revoked')) : h('span', { class: 'tag ok' }, '有效') },
      { title: t('common.actions'), render: k => !k.revoked_at && canCreate ? h('button', { class: 'btn sm', onclick: async () => {
        if (!confirm(t('key.revoke') + ' ' + k.prefix + '…?')) return;
        try { await api('/api/v1/api-keys/' + k.id, { method: 'DELETE' }); toast(t('key.revoked'), 'ok'); load(); } catch (e) { toast(e.message, 'error'); }
      } }, t('key.revoke')) : '' },
    ], r.items, { empty: empty(t('empty.nodata')) }));
  }
  await load();
}

async function audit(el, ctx) {
  const action = ctx.query.get('action') || '';
  const box = h('div', null, loading());
  const input = h('input', { type: 'text', name: 'action', value: action, placeholder: 'login / export / warning_approve …' });
  el.append(h('section', { class: 'card' }, h('form', { class: 'filters', onsubmit: e => { e.preventDefault(); ctx.go('#/accounts?tab=audit&action=' + encodeURIComponent(input.value)); } },
    h('label', null, t('audit.action'), input), h('button', { class: 'btn primary', type: 'submit' }, t('common.search'))), h('div', { class: 'bd flush' }, box)));
  let r;
  try { r = await api('/api/v1/audit?limit=200' + (action ? '&action=' + encodeURIComponent(action) : '')); } catch (e) { fill(box, errorBox(e)); return; }
  fill(box, table([
    { title: t('common.time'), render: a => fmtTime(a.at, true) }, { title: t('acc.username'), key: 'username' },
    { title: t('audit.ip'), key: 'source_ip' }, { title: t('audit.action'), key: 'action' }, { title: t('audit.object'), key: 'object' },
    { title: t('audit.result'), render: a => h('span', { class: 'tag ' + (a.result === 'ok' ? 'ok' : 'bad') }, a.result) },
    { title: t('audit.detail'), render: a => h('span', { class: 'mono', style: { wordBreak: 'break-all' } }, (a.detail || '').slice(0, 160)) },
  ], r.items, { attrs: { 'data-testid': 'audit-table' } }));
}
