// 数据上报 (city and district administrators, issue 18): upstream targets
// (province in the Hebei V1.1 dialect, ministry in the MEM envelope, a city
// instance above), their code mapping, refused requests with the resend
// action and the daily reconciliation.  Credentials are entered once and never
// shown again (the server keeps them sealed).
import { api } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, formModal, formRow, select, toast, loading } from '../ui.js';

const ids = v => (v || '').split(/[\s,，]+/).filter(Boolean).map(Number);

export default async function forwardPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('fwd.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!['city_admin', 'district_admin'].includes(ctx.me.role)) { el.append(empty(t('empty.forbidden'))); return; }
  const list = h('div', null, loading());
  const detail = h('div', { 'data-testid': 'forward-detail' });
  el.append(card(t('fwd.targets'), list, h('button', { class: 'btn sm primary', 'data-action': 'new-target', onclick: create }, '+ ' + t('fwd.create')), { flush: true }), detail);

  async function load(selectId) {
    let r;
    try { r = await api('/api/v1/forward/targets'); } catch (e) { fill(list, errorBox(e)); return; }
    fill(list, table([
      { title: t('fwd.name'), render: x => h('button', { class: 'btn sm', type: 'button', 'data-target': x.name, onclick: () => show(x) }, x.name) },
      { title: t('fwd.dialect'), render: x => t('fwd.dialect.' + x.dialect) },
      { title: 'URL', render: x => h('span', { class: 'mono' }, x.url) },
      { title: t('fwd.kinds'), render: x => x.kinds.map(k => t('fwd.kind.' + k)).join('、') },
      { title: t('common.state'), render: x => x.enabled ? (x.last_error_at && (!x.last_ok_at || x.last_error_at > x.last_ok_at)
        ? h('span', { class: 'tag bad', title: x.last_error }, t('fwd.failing')) : h('span', { class: 'tag ok' }, t('fwd.ok')))
        : h('span', { class: 'tag muted' }, t('fwd.paused')) },
      { title: t('fwd.last_ok'), render: x => fmtTime(x.last_ok_at, true) },
      { title: t('common.actions'), render: x => h('button', { class: 'btn sm', 'data-action': 'toggle', onclick: () => toggle(x) }, x.enabled ? t('fwd.pause') : t('fwd.resume')) },
    ], r.items, { attrs: { 'data-testid': 'forward-targets' }, empty: empty(t('fwd.none')) }));
    const sel = r.items.find(x => x.id === selectId);
    if (sel) show(sel);
  }

  async function toggle(x) {
    try { await api(`/api/v1/forward/targets/${x.id}`, { method: 'PATCH', body: { enabled: !x.enabled } }); } catch (e) { toast(e.message, 'error'); }
    load(x.id);
  }

  function create() {
    const creds = h('div');
    const dialect = select('dialect', [['hebei', t('fwd.dialect.hebei')], ['mem', t('fwd.dialect.mem')]], 'hebei', { onchange: e => credRows(e.target.value) });
    const credRows = d => fill(creds, d === 'hebei'
      ? [formRow('DES key', h('input', { name: 'des_key', required: true, maxlength: 8, minlength: 8, autocomplete: 'off' })),
        formRow('DES IV', h('input', { name: 'des_iv', value: '12345678', maxlength: 8, minlength: 8 }))]
      : [formRow('appid', h('input', { name: 'appid', required: true })),
        formRow('appsecret', h('input', { name: 'appsecret', required: true, type: 'password', autocomplete: 'off' })),
        formRow('SM4 key (hex)', h('input', { name: 'sm4_key', required: true, pattern: '[0-9a-fA-F]{32}' })),
        formRow('SM4 IV (hex)', h('input', { name: 'sm4_iv', required: true, pattern: '[0-9a-fA-F]{32}' }))]);
    credRows('hebei');
    formModal(t('fwd.create'), [
      formRow(t('fwd.name'), h('input', { name: 'name', required: true, maxlength: 100 })),
      formRow('URL', h('input', { name: 'url', required: true, placeholder: 'https://…/rabbitmqfcsb  ·  https://…/mem/v1' })),
      formRow(t('fwd.dialect'), dialect), creds,
      formRow(t('fwd.enterprise_ids'), h('input', { name: 'enterprise_ids', placeholder: '12, 15' })),
      formRow(t('fwd.kinds'), h('span', null, ['readings', 'events', 'videos', 'alarms'].map(k =>
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'kind_' + k, checked: true }), t('fwd.kind.' + k))))),
      formRow(t('fwd.rate'), h('input', { name: 'rate_per_s', type: 'number', min: 1, max: 1000, value: 20 })),
      formRow(t('fwd.batch'), h('input', { name: 'batch_max', type: 'number', min: 1, max: 5000, value: 500 })),
    ], async v => {
      const body = { name: v.name, url: v.url, dialect: v.dialect, enterprise_ids: ids(v.enterprise_ids),
        kinds: ['readings', 'events', 'videos', 'alarms'].filter(k => v['kind_' + k]),
        rate_per_s: Number(v.rate_per_s), batch_max: Number(v.batch_max) };
      if (v.dialect === 'hebei') body.credentials = { des_key: v.des_key, des_iv: v.des_iv || '12345678' };
      else { body.appid = v.appid; body.credentials = { appsecret: v.appsecret, sm4_key: v.sm4_key, sm4_iv: v.sm4_iv }; }
      const r = await api('/api/v1/forward/targets', { method: 'POST', body });
      toast(t('fwd.created'), 'ok');
      load(r.id);
    });
  }

  async function show(x) {
    fill(detail, loading());
    let rep, codes, dead;
    try {
      [rep, codes, dead] = await Promise.all([api(`/api/v1/forward/targets/${x.id}/report`),
        api(`/api/v1/forward/targets/${x.id}/codes`), api(`/api/v1/forward/targets/${x.id}/dead-letters?limit=100`)]);
    } catch (e) { fill(detail, errorBox(e)); return; }
    const tot = rep.totals;
    fill(detail,
      card(t('fwd.report') + ' · ' + x.name, h('div', null,
        h('p', { 'data-testid': 'forward-totals' }, t('fwd.totals', { sent: tot.sent, acked: tot.acked, refused: tot.refused, resent: tot.resent_acked, failures: tot.failures }),
          ' · ', t('fwd.lag', { n: Math.round(rep.lag_s), p: rep.outbox_pending }),
          rep.last_error ? h('span', { class: 'tag bad', title: rep.last_error }, ' ' + t('fwd.last_error') + ': ' + rep.last_error) : null),
        table([{ title: t('fwd.day'), key: 'day' }, { title: t('fwd.kinds'), render: d => t('fwd.kind.' + d.kind) },
          { title: t('fwd.sent'), key: 'sent' }, { title: t('fwd.acked'), key: 'acked' }, { title: t('fwd.refused'), key: 'refused' },
          { title: t('fwd.resent'), key: 'resent_acked' }, { title: t('fwd.failures'), key: 'failures' }], rep.days,
        { attrs: { 'data-testid': 'forward-days' }, empty: empty(t('fwd.nodata')) }))),
      card(t('fwd.codes'), h('div', null, table([{ title: t('fwd.object'), render: m => t('fwd.obj.' + m.object) },
        { title: t('fwd.local'), render: m => h('span', { class: 'mono' }, m.local_code) },
        { title: t('fwd.upstream'), render: m => h('span', { class: 'mono' }, m.upstream_code) },
        { title: t('common.actions'), render: m => h('button', { class: 'btn sm', onclick: () => setCode(x, m.object, m.local_code, null) }, t('fwd.unmap')) }],
      codes.items, { empty: empty(t('fwd.nocodes')) })), h('button', { class: 'btn sm', 'data-action': 'map-code', onclick: () => mapCode(x) }, '+ ' + t('fwd.map'))),
      card(t('fwd.dead'), table([{ title: t('fwd.when'), render: d => fmtTime(d.created_at, true) },
        { title: t('fwd.kinds'), render: d => t('fwd.kind.' + d.kind) }, { title: t('fwd.ent'), key: 'enterprise_code' },
        { title: t('fwd.items'), key: 'items' }, { title: t('fwd.reason'), key: 'reason' },
        { title: t('common.state'), render: d => d.resolved_at ? h('span', { class: 'tag ok' }, t('fwd.resolved')) : d.resend_requested_at ? t('fwd.resending') : h('span', { class: 'tag bad' }, t('fwd.open')) },
        { title: t('common.actions'), render: d => d.resolved_at ? '' : h('button', { class: 'btn sm', 'data-action': 'resend', onclick: () => resend(x, d) }, t('fwd.resend')) }],
      dead.items, { attrs: { 'data-testid': 'forward-dead' }, empty: empty(t('fwd.nodead')) }), null, { flush: true }));
  }

  async function setCode(x, object, local, upstream) {
    try { await api(`/api/v1/forward/targets/${x.id}/codes`, { method: 'POST', body: { object, local_code: local, upstream_code: upstream } }); } catch (e) { toast(e.message, 'error'); }
    show(x);
  }
  function mapCode(x) {
    formModal(t('fwd.map'), [
      formRow(t('fwd.object'), select('object', ['enterprise', 'gateway', 'point'].map(o => [o, t('fwd.obj.' + o)]), 'point')),
      formRow(t('fwd.local'), h('input', { name: 'local_code', required: true, maxlength: 64 })),
      formRow(t('fwd.upstream'), h('input', { name: 'upstream_code', required: true, maxlength: 64, pattern: '[A-Za-z0-9._\\-]{1,64}' })),
    ], async v => {
      await api(`/api/v1/forward/targets/${x.id}/codes`, { method: 'POST', body: { object: v.object, local_code: v.local_code, upstream_code: v.upstream_code } });
      show(x);
    });
  }
  async function resend(x, d) {
    try { await api(`/api/v1/forward/dead-letters/${d.id}/resend`, { method: 'POST' }); toast(t('fwd.resend.ok'), 'ok'); } catch (e) { toast(e.message, 'error'); }
    show(x);
  }
  load();
}
