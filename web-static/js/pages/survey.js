// 摸排录入 (issue 17 item 8): a street account proposes new enterprises of its
// street and changes to its enterprises; the district (or the city) sees them
// with the current values beside the proposed ones, confirms or returns them
// with a reason; the street edits a returned proposal and resubmits.  Pending
// proposals are not enterprises: no figure counts them until confirmed.
import { api, apiAll } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, formModal, formRow, select, toast, loading } from '../ui.js';

// the archive fields a survey records (the API takes the others too)
const FIELDS = [['code', true], ['uscc', true], ['name', true], ['address'], ['industry_code'], ['dust_kinds'], ['dust_workers', false, 'number'],
  ['principal_name'], ['principal_phone'], ['safety_manager_name'], ['safety_manager_phone']];
const show = v => v == null ? '—' : Array.isArray(v) ? v.join('、') : String(v);

function recordOf(v, onlyChanged, before) {
  const rec = {};
  for (const [k, , type] of FIELDS) {
    const raw = (v[k] ?? '').trim();
    if (raw === '' && (onlyChanged || !FIELDS.find(f => f[0] === k)[1])) continue;
    const val = k === 'dust_kinds' ? raw.split(/[\s,，、]+/).filter(Boolean) : type === 'number' ? Number(raw) : raw;
    if (onlyChanged && before && show(before[k]) === show(val)) continue;
    rec[k] = val;
  }
  return rec;
}

export default async function surveyPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('sv.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  const kind = ctx.me.scope.kind;
  if (kind === 'enterprise') { el.append(empty(t('empty.forbidden'))); return; }
  const street = kind === 'street';
  const list = h('div', null, loading());
  el.append(card(street ? t('sv.mine') : t('sv.review'), list,
    street ? h('span', null,
      h('button', { class: 'btn sm primary', 'data-action': 'propose-new', onclick: () => propose(null) }, '+ ' + t('sv.new')), ' ',
      h('button', { class: 'btn sm', 'data-action': 'propose-change', onclick: pickEnterprise }, t('sv.change'))) : null, { flush: true }));

  async function load() {
    let r;
    try { r = await api('/api/v1/survey/proposals'); } catch (e) { fill(list, errorBox(e)); return; }
    fill(list, table([
      { title: t('sv.kind'), render: p => t('sv.kind.' + p.kind) },
      { title: t('sv.name'), render: p => p.name || '—' },
      { title: t('common.street'), render: p => p.street.name },
      { title: t('sv.diff'), render: p => h('ul', { class: 'diff' }, Object.entries(p.record).map(([k, v]) =>
        h('li', null, h('b', null, t('sv.f.' + k, {}, k)), ': ', p.before ? [h('s', null, show(p.before[k])), ' → '] : null, show(v)))) },
      { title: t('common.state'), render: p => h('span', { class: 'tag ' + ({ pending: 'warn', confirmed: 'ok', returned: 'bad' })[p.status], 'data-status': p.status }, t('sv.status.' + p.status)) },
      { title: t('sv.reason'), render: p => p.reason || '' },
      { title: t('sv.when'), render: p => `${p.proposed_by} · ${fmtTime(p.proposed_at)}` },
      { title: t('common.actions'), render: p => actions(p) },
    ], r.items, { attrs: { 'data-testid': 'proposals' }, rowAttrs: p => ({ 'data-proposal': p.name || String(p.id) }), empty: empty(t('sv.none')) }));
  }

  function actions(p) {
    if (street) return p.status === 'confirmed' ? '' : h('button', { class: 'btn sm', 'data-action': 'edit-proposal', onclick: () => propose(p) }, t('sv.edit'));
    if (p.status !== 'pending') return '';
    return h('span', { class: 'row-actions' },
      h('button', { class: 'btn sm primary', 'data-action': 'confirm-proposal', onclick: () => confirm(p) }, t('sv.confirm')),
      h('button', { class: 'btn sm', 'data-action': 'return-proposal', onclick: () => giveBack(p) }, t('sv.return')));
  }

  // a new enterprise (p null), a change of enterprise ent, or an edit of proposal p
  function propose(p, ent) {
    const change = ent || (p && p.kind === 'update');
    const cur = p ? { ...(p.before || {}), ...p.record } : ent || {};
    const fields = change ? FIELDS.filter(([k]) => !['code', 'uscc'].includes(k)) : FIELDS;
    formModal(change ? t('sv.change') + ' · ' + (ent ? ent.name : p.name) : t('sv.new'),
      fields.map(([k, req, type]) => formRow(t('sv.f.' + k, {}, k) + (req && !change ? ' *' : ''),
        h('input', { name: k, required: !!(req && !change), type: type || 'text', min: type === 'number' ? 0 : null, value: show(cur[k]) === '—' ? '' : show(cur[k]) }))),
      async v => {
        const record = recordOf(v, change, change ? (p ? p.before : ent) : null);
        if (p) await api(`/api/v1/survey/proposals/${p.id}`, { method: 'PATCH', body: { record } });
        else await api('/api/v1/survey/proposals', { method: 'POST', body: ent ? { enterprise_id: ent.id, record } : { record } });
        toast(t('sv.sent'), 'ok');
        load();
      }, t('sv.submit'));
  }

  async function pickEnterprise() {
    let r;
    try { r = await apiAll('/api/v1/enterprises'); } catch (e) { toast(e.message, 'error'); return; }
    const items = r.items || [];
    formModal(t('sv.change'), [formRow(t('sv.name'), select('id', items.map(e => [e.id, e.name]), items[0] && items[0].id))], async v => {
      const ent = items.find(e => String(e.id) === v.id);
      const full = await api('/api/v1/enterprises/' + ent.id);
      setTimeout(() => propose(null, full.enterprise), 0);
    }, t('sv.next'));
  }

  async function confirm(p) {
    try { await api(`/api/v1/survey/proposals/${p.id}/confirm`, { method: 'POST' }); toast(t('sv.confirmed'), 'ok'); } catch (e) { toast(e.message, 'error'); }
    load();
  }

  function giveBack(p) {
    formModal(t('sv.return') + ' · ' + (p.name || p.id), [formRow(t('sv.reason'), h('input', { name: 'reason', required: true, maxlength: 500 }))], async v => {
      await api(`/api/v1/survey/proposals/${p.id}/return`, { method: 'POST', body: { reason: v.reason } });
      toast(t('sv.returned'), 'ok');
      load();
    }, t('sv.return'));
  }
  load();
}
