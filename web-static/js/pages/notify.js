// 通知订阅: notification subscriptions of the caller's scope (webhook or SMS,
// event families, levels), the delivery log of every message (sent / failed /
// retried, with each attempt), and the duty roster of an enterprise (the SMS
// target of "to duty" subscriptions).
import { api, hasRoute, mayUse } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading } from '../ui.js';

const EVENTS = ['alarm', 'warning', 'warning_action', 'overdue', 'filing', 'cleaning_due'];
const LEVELS = ['1', '2', 'blue', 'yellow', 'orange', 'red'];
const checks = (name, values, on = []) => h('div', { class: 'checks' }, values.map(v =>
  h('label', { style: { marginRight: '10px' } }, h('input', { type: 'checkbox', name, value: v, checked: on.includes(v) }), ' ', t('nt.' + name + '.' + v, {}, v))));
const picked = (form, name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map(i => i.value);
const statusTag = s => h('span', { class: 'tag ' + ({ sent: 'ok', read: 'ok', failed: 'bad', retrying: 'warn' }[s] || 'muted'), 'data-status': s }, t('nt.status.' + s, {}, s));

export default async function notifyPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('nt.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/notify/subscriptions')) { el.append(card(t('nt.subs'), missingRoute('GET /api/v1/notify/subscriptions'))); return; }
  const subsBox = h('div', null, loading());
  const logBox = h('div', null, loading());
  const canEdit = mayUse(ctx.me, 'POST', '/api/v1/notify/subscriptions');
  el.append(card(t('nt.subs'), subsBox, canEdit ? h('button', { class: 'btn sm', 'data-action': 'new-subscription', onclick: create }, '+ ' + t('nt.new')) : null, { flush: true }));
  el.append(card(t('nt.log'), logBox, h('button', { class: 'btn sm', onclick: () => loadLog() }, t('nt.refresh')), { flush: true }));
  if (ctx.isEnt) el.append(await rosterCard(ctx, ctx.me.scope.id));

  async function loadSubs() {
    let r;
    try { r = await api('/api/v1/notify/subscriptions'); } catch (e) { fill(subsBox, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(subsBox, table([
      { title: t('nt.name'), render: s => s.name || '#' + s.id },
      { title: t('nt.scope'), render: s => t('level.' + s.scope_kind, {}, s.scope_kind) + ' ' + s.scope_id },
      { title: t('nt.channel'), render: s => t('nt.channel.' + s.channel, {}, s.channel) },
      { title: t('nt.target'), render: s => s.url || s.phone || (s.to_duty ? t('nt.duty') : s.to_watch ? t('nt.watch') : '') },
      { title: t('nt.events'), render: s => s.events.map(e => t('nt.events.' + e, {}, e)).join('、') },
      { title: t('nt.levels'), render: s => s.levels.length ? s.levels.map(l => t('nt.levels.' + l, {}, l)).join('、') : t('nt.all') },
      { title: t('common.state'), render: s => canEdit
        ? h('button', { class: 'btn sm', 'data-action': 'toggle', onclick: () => toggle(s) }, s.enabled ? t('nt.enabled') : t('nt.disabled'))
        : (s.enabled ? t('nt.enabled') : t('nt.disabled')) },
    ], r.items, { empty: empty(t('nt.none'), t('nt.none.hint')), attrs: { 'data-testid': 'subs-table' }, rowAttrs: s => ({ 'data-sub': s.name }) }));
  }
  async function loadLog() {
    let r;
    try { r = await api('/api/v1/notify/deliveries?limit=50'); } catch (e) { fill(logBox, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(logBox, table([
      { title: t('nt.created'), render: x => fmtTime(x.created_at) }, { title: t('nt.key'), key: 'dedup_key' },
      { title: t('nt.channel'), render: x => t('nt.channel.' + x.channel, {}, x.channel) }, { title: t('nt.target'), render: x => x.target === 'watch:none' || x.target === 'duty:none' ? t('common.none') : x.target },
      { title: t('common.state'), render: x => statusTag(x.status) },
      { title: t('nt.attempts'), class: 'num', render: x => String(x.attempts) },
      { title: t('nt.last'), render: x => { const d = x.deliveries[x.deliveries.length - 1]; return d ? `${fmtTime(d.at)} ${t('nt.result.' + d.result, {}, d.result)} · ${d.detail}` : ''; } },
    ], r.items, { empty: empty(t('nt.nolog')), attrs: { 'data-testid': 'deliveries-table' } }));
  }
  function create() {
    formModal(t('nt.new'), [
      formRow(t('nt.name'), h('input', { type: 'text', name: 'name', maxlength: 100 })),
      formRow(t('nt.channel'), select('channel', [['webhook', t('nt.channel.webhook')], ['sms', t('nt.channel.sms')], ...(ctx.isEnt ? [] : [['inapp', t('nt.channel.inapp')]])], 'webhook')),
      formRow(t('nt.url'), h('input', { type: 'url', name: 'url', placeholder: 'https://' })),
      formRow(t('nt.phone'), h('input', { type: 'tel', name: 'phone', maxlength: 21 })),
      formRow(t('nt.duty'), h('input', { type: 'checkbox', name: 'to_duty', value: '1' })),
      ctx.isEnt ? null : formRow(t('nt.watch'), h('input', { type: 'checkbox', name: 'to_watch', value: '1' })),
      formRow(t('nt.events'), checks('events', EVENTS, ['alarm', 'warning'])),
      formRow(t('nt.levels'), checks('levels', LEVELS)),
    ], async (v, form) => {
      const body = { name: v.name || '', channel: v.channel, events: picked(form, 'events'), levels: picked(form, 'levels') };
      if (v.channel === 'webhook') body.url = v.url; else if (v.channel === 'inapp' || v.to_watch) body.to_watch = true; else if (v.to_duty) body.to_duty = true; else body.phone = v.phone;
      const r = await api('/api/v1/notify/subscriptions', { method: 'POST', body });
      toast(r.secret ? t('nt.secret', { s: r.secret }) : t('set.saved'), 'ok', r.secret ? 20000 : 4000);
      loadSubs();
    });
  }
  async function toggle(s) {
    try { await api('/api/v1/notify/subscriptions/' + s.id, { method: 'PATCH', body: { enabled: !s.enabled } }); loadSubs(); } catch (e) { toast(e.message, 'bad'); }
  }
  await Promise.all([loadSubs(), loadLog()]);
}

// The duty roster of one enterprise (its own page for enterprise accounts).
export async function rosterCard(ctx, enterpriseId) {
  const box = h('div', null, loading());
  const canEdit = mayUse(ctx.me, 'POST', '/api/v1/enterprises/{id}/duty-roster');
  const c = card(t('nt.roster'), box, canEdit ? h('button', { class: 'btn sm', 'data-action': 'add-duty', onclick: add }, '+ ' + t('nt.roster.add')) : null, { flush: true });
  async function load() {
    let r;
    try { r = await api(`/api/v1/enterprises/${enterpriseId}/duty-roster`); } catch (e) { fill(box, errorBox(e)); return; }
    fill(box, table([
      { title: t('nt.name'), key: 'name' }, { title: t('nt.phone'), key: 'phone' },
      { title: t('nt.dutykind'), render: x => t('nt.dutykind.' + x.duty, {}, x.duty) },
      { title: t('common.actions'), render: x => canEdit ? h('button', { class: 'btn sm', 'data-action': 'remove-duty', onclick: async () => { await api('/api/v1/duty-roster/' + x.id, { method: 'DELETE' }); load(); } }, t('nt.remove')) : '' },
    ], r.items, { empty: empty(t('nt.roster.none')), attrs: { 'data-testid': 'roster-table' } }));
  }
  function add() {
    formModal(t('nt.roster.add'), [
      formRow(t('nt.name'), h('input', { type: 'text', name: 'name', required: true, maxlength: 100 })),
      formRow(t('nt.phone'), h('input', { type: 'tel', name: 'phone', required: true, maxlength: 21 })),
      formRow(t('nt.dutykind'), select('duty', ['duty', 'safety_manager', 'principal'].map(d => [d, t('nt.dutykind.' + d)]), 'duty')),
    ], async v => { await api(`/api/v1/enterprises/${enterpriseId}/duty-roster`, { method: 'POST', body: v }); load(); });
  }
  load();
  return c;
}
