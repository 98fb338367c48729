// 审批报备: production-stop / maintenance / disable filings.  The enterprise
// files and ends them (复产); the reviewing level (street or district, as the
// district chose) approves or returns them; the detail lists the points
// covered and the alarms suppressed while the filing was valid.
import { api, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { lbl, loadLabels } from '../labels.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading } from '../ui.js';
import { onLive } from '../live.js';

const STATES = ['submitted', 'approved', 'returned', 'ended', 'expired', 'withdrawn'];
// action -> [from states, body field, required, who]
const ACTS = {
  approve: [['submitted'], 'note', false, 'gov'],
  return: [['submitted'], 'reason', true, 'gov'],
  withdraw: [['submitted'], 'note', false, 'ent'],
  end: [['approved'], 'note', false, 'ent'],
};

const stateTag = s => h('span', { class: 'tag ' + ({ approved: 'ok', submitted: 'warn', returned: 'bad', expired: 'muted', ended: 'muted', withdrawn: 'muted' })[s], 'data-filing-state': s },
  lbl('filing_status', s, 'fl.state'));

export default async function filingsPage(el, ctx) {
  await loadLabels();
  if (ctx.params.id) return detail(el, ctx, ctx.params.id);
  const state = ctx.query.get('state') || '';
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('fl.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/filings')) { el.append(card(t('fl.title'), missingRoute('GET /api/v1/filings'))); return; }
  const tools = h('div', { style: { display: 'flex', gap: '8px', marginBottom: '10px' } });
  if (ctx.isEnt && hasRoute('POST', '/api/v1/enterprises/{id}/filings'))
    tools.append(h('button', { class: 'btn primary', 'data-action': 'new-filing', onclick: () => newFiling(ctx, () => load()) }, t('fl.new')));
  if (!ctx.isEnt && ctx.isAdmin && ctx.me.scope.kind === 'district' && hasRoute('POST', '/api/v1/filing-settings'))
    tools.append(h('button', { class: 'btn', 'data-action': 'filing-settings', onclick: () => settings() }, t('fl.settings')));
  el.append(tools, h('nav', { class: 'tabs' }, [['', t('common.all')], ...STATES.map(s => [s, lbl('filing_status', s, 'fl.state')])].map(([s, l]) =>
    h('a', { href: '#/filings' + (s ? '?state=' + s : ''), class: s === state ? 'active' : null }, l))));
  const body = h('div', { class: 'bd flush' }, loading());
  el.append(h('section', { class: 'card', 'data-testid': 'filing-list' }, body));
  async function load() {
    let r;
    try { r = await api('/api/v1/filings?limit=200' + (state ? '&state=' + state : '')); } catch (e) { fill(body, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(body, table([
      ctx.isEnt ? null : { title: t('common.enterprise'), render: f => h('a', { href: '#/enterprises/' + f.enterprise.id }, f.enterprise.name) },
      { title: t('fl.type'), render: f => h('a', { href: '#/filings/' + f.id }, lbl('filing_type', f.type, 'fl.type')) },
      { title: t('fl.period'), render: f => fmtTime(f.starts_at) + ' ~ ' + fmtTime(f.ends_at) },
      { title: t('fl.scope'), render: f => f.whole_enterprise ? t('fl.whole') : t('fl.parts', { n: f.system_ids.length + f.point_ids.length }) },
      { title: t('common.state'), render: f => stateTag(f.state) },
      { title: t('fl.level'), render: f => t('level.' + f.approval_level) },
      { title: t('fl.suppressed'), class: 'num', render: f => String(f.suppressed) },
      { title: t('common.actions'), render: f => actions(ctx, f, load) },
    ].filter(Boolean), r.items, { empty: empty(t('fl.empty')), rowAttrs: f => ({ 'data-filing-id': f.id }) }));
  }
  await load();
  let pending = null;
  onLive(ctx, ev => { if (ev.type === 'filing' && !pending) pending = setTimeout(() => { pending = null; load(); }, 300); });
  ctx.onLeave(() => clearTimeout(pending));

  function settings() {
    formModal(t('fl.settings'), [formRow(t('fl.level'), select('approval_level', [['district', t('level.district')], ['street', t('level.street')]], 'district'))],
      async v => { await api('/api/v1/filing-settings', { method: 'POST', body: { approval_level: v.approval_level } }); toast(t('acc.saved'), 'ok'); });
  }
}

function newFiling(ctx, reload) {
  const local = d => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const now = new Date();
  formModal(t('fl.new'), [
    formRow(t('fl.type'), select('type', ['stop', 'maintenance', 'disable'].map(x => [x, lbl('filing_type', x, 'fl.type')]), 'stop')),
    formRow(t('fl.starts'), h('input', { type: 'datetime-local', name: 'starts_at', required: true, value: local(now) })),
    formRow(t('fl.ends'), h('input', { type: 'datetime-local', name: 'ends_at', required: true, value: local(new Date(now.getTime() + 7 * 86400000)) })),
    formRow(t('fl.reason'), h('textarea', { name: 'reason', required: true, maxlength: 2000 })),
    h('div', { class: 'note' }, t('fl.whole.hint')),
  ], async v => {
    await api(`/api/v1/enterprises/${ctx.me.scope.id}/filings`, { method: 'POST', body: {
      type: v.type, reason: v.reason, starts_at: new Date(v.starts_at).toISOString(), ends_at: new Date(v.ends_at).toISOString() } });
    toast(t('fl.new') + ' ✓', 'ok'); reload();
  });
}

function actions(ctx, f, reload) {
  const out = [];
  for (const [name, [from, field, required, who]] of Object.entries(ACTS)) {
    if (!from.includes(f.state) || (who === 'ent') !== ctx.isEnt) continue;
    if (!hasRoute('POST', `/api/v1/filings/{id}/${name}`)) continue;
    const label = t('fl.' + name);
    out.push(h('button', { class: 'btn sm ' + (name === 'approve' ? 'primary' : ''), 'data-action': 'filing-' + name, onclick: () => formModal(label, [
      h('div', { class: 'note', style: { marginBottom: '10px' } }, `${f.enterprise.name} · ${lbl('filing_type', f.type, 'fl.type')}`),
      formRow(field === 'reason' ? t('fl.reason.return') : t('common.note'), h('textarea', { name: field, required, maxlength: 2000 }))],
    async v => {
      await api(`/api/v1/filings/${f.id}/${name}`, { method: 'POST', body: v[field] ? { [field]: v[field] } : {} });
      toast(label + ' ✓', 'ok'); reload();
    }, label) }, label));
  }
  out.push(h('a', { class: 'btn sm', href: '#/filings/' + f.id }, t('common.detail')));
  return h('span', { style: { display: 'flex', gap: '4px', flexWrap: 'wrap' } }, out);
}

async function detail(el, ctx, id) {
  el.append(h('div', { class: 'page-head' }, h('a', { class: 'crumbs', href: '#/filings' }, t('fl.title') + ' /'), h('h2', null, '#' + id)));
  const box = h('div', null, loading());
  el.append(box);
  async function load() {
    let r;
    try { r = await api('/api/v1/filings/' + encodeURIComponent(id)); } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    const f = r.filing;
    const kv = (k, v) => [h('dt', null, k), h('dd', null, v ?? t('common.na'))];
    fill(box, card(t('common.detail'), h('dl', { class: 'kv', 'data-testid': 'filing-detail' },
      kv(t('common.enterprise'), f.enterprise.name), kv(t('fl.type'), lbl('filing_type', f.type, 'fl.type')),
      kv(t('common.state'), stateTag(f.state)), kv(t('fl.period'), fmtTime(f.starts_at) + ' ~ ' + fmtTime(f.ends_at)),
      kv(t('fl.reason'), f.reason), kv(t('fl.level'), t('level.' + f.approval_level)),
      kv(t('fl.review'), f.reviewed_at ? fmtTime(f.reviewed_at) + ' ' + f.review_note : null),
      kv(t('fl.ended'), f.ended_at ? fmtTime(f.ended_at) + ' ' + f.end_note : null),
      kv(t('fl.suppressed'), h('b', { 'data-testid': 'filing-suppressed' }, String(f.suppressed))),
      f.evidence ? kv(t('fl.evidence'), h('a', { href: f.evidence.href, target: '_blank' }, f.evidence.type)) : null,
      f.production_alarm_id ? kv(t('fl.production'), h('a', { href: '#/alarms/' + f.production_alarm_id, class: 'err' }, '#' + f.production_alarm_id)) : null),
    h('div', { class: 'extra' }, actions(ctx, { ...f, enterprise: f.enterprise }, load))),
    h('div', { class: 'grid g2' },
      card(t('fl.points'), table([{ title: t('fl.point'), key: 'code' }, { title: t('common.note'), key: 'name' }], r.points, { empty: empty(t('common.none')) })),
      card(t('fl.suppressions'), table([{ title: t('fl.point'), key: 'point' }, { title: t('fl.kind'), render: s => lbl('alarm_kind', s.kind) },
        { title: t('fl.count'), class: 'num', key: 'count' }, { title: t('common.time'), render: s => fmtTime(s.first_at) + ' ~ ' + fmtTime(s.last_at) }],
      r.suppressions, { empty: empty(t('common.none')) }))));
  }
  await load();
  onLive(ctx, ev => { if (ev.type === 'filing' && String(ev.id) === String(id)) load(); });
  const poll = setInterval(load, 5000); // suppressions are not live events
  ctx.onLeave(() => clearInterval(poll));
}
