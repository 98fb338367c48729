// 督办 / 执法 / 通报: supervision orders (assign, answer, close), enforcement
// referrals (accept, reject, close with the decision) and public notices
// (draft from an overdue warning or hazard, approve, publish, export).
import { api, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { lbl, loadLabels } from '../labels.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading } from '../ui.js';
import { onLive } from '../live.js';

const TABS = ['sv', 'rf', 'nt'];
const tag = (domain, s, attr) => h('span', { class: 'tag ' + ({ closed: 'ok', published: 'ok', rejected: 'muted', open: 'warn', draft: 'muted' }[s] || 'warn'), [attr]: s }, lbl(domain, s));

export default async function supervisionPage(el, ctx) {
  await loadLabels();
  const tab = TABS.includes(ctx.query.get('tab')) ? ctx.query.get('tab') : 'sv';
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('sv.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)),
    h('nav', { class: 'tabs' }, TABS.map(k => h('a', { href: '#/supervision?tab=' + k, class: k === tab ? 'active' : null, 'data-tab': k }, t('sv.tab.' + k)))));
  const route = { sv: '/api/v1/supervisions', rf: '/api/v1/enforcement-referrals', nt: '/api/v1/notices' }[tab];
  if (!hasRoute('GET', route)) { el.append(card(t('sv.title'), missingRoute('GET ' + route))); return; }
  const extra = h('div');
  const body = h('div', { class: 'bd flush' }, loading());
  el.append(extra, h('section', { class: 'card', 'data-testid': 'work-list' }, body));
  async function load() {
    let r;
    try { r = await api(route + '?limit=200'); } catch (e) { fill(body, errorBox(e)); return; }
    if (!ctx.alive) return;
    const ent = { title: t('common.enterprise'), render: x => x.enterprise ? h('a', { href: '#/enterprises/' + x.enterprise.id }, x.enterprise.name) : t('common.na') };
    const warn = { title: t('sv.warning'), render: x => x.warning ? h('a', { href: '#/warnings/' + x.warning.id }, h('span', { class: 'tag ' + x.warning.grade }, t('colour.' + x.warning.grade, {}, x.warning.grade)), ' #' + x.warning.id) : t('common.na') };
    const cols = {
      sv: [ent, warn, { title: t('sv.level'), render: x => t('level.' + x.level) }, { title: t('common.state'), render: x => tag('supervision_status', x.status, 'data-sv-state') },
        { title: t('sv.assignee'), render: x => x.assignee || t('common.na') }, { title: t('sv.response'), render: x => x.response || x.result || '' },
        { title: t('common.time'), render: x => fmtTime(x.created_at) }],
      rf: [ent, warn, { title: t('common.state'), render: x => tag('referral_status', x.status, 'data-rf-state') },
        { title: t('sv.decision'), render: x => x.decision_no ? `${x.decision_no} · ¥${x.penalty_amount ?? 0} · ${x.decided_on}` : (x.outcome || x.review_note || '') },
        { title: t('common.time'), render: x => fmtTime(x.created_at) }],
      nt: [ent, { title: t('sv.notice'), render: x => x.title }, { title: t('common.state'), render: x => tag('notice_status', x.status, 'data-nt-state') },
        { title: t('common.time'), render: x => fmtTime(x.published_at || x.created_at) }],
    }[tab];
    cols.push({ title: t('common.actions'), render: x => actions(ctx, tab, x, load) });
    fill(body, table(cols, r.items, { empty: empty(t('sv.empty')), rowAttrs: x => ({ 'data-work-id': x.id }) }));
    if (tab === 'nt' && !ctx.isEnt && hasRoute('GET', '/api/v1/notices/candidates')) {
      const c = await api('/api/v1/notices/candidates').catch(() => null);
      if (c && ctx.alive) fill(extra, card(t('sv.candidates'), table([
        { title: t('common.enterprise'), render: x => x.enterprise.name },
        { title: t('sv.what'), render: x => x.title ? t('sv.hazard') + '：' + x.title : t('sv.warning') + ' #' + x.id + ' ' + t('colour.' + x.grade, {}, x.grade) },
        { title: t('sv.due'), render: x => fmtTime(x.deadline || x.clear_by) },
        { title: t('common.actions'), render: x => hasRoute('POST', '/api/v1/notices') ? h('button', { class: 'btn sm', 'data-action': 'draft-notice', onclick: async () => {
          await api('/api/v1/notices', { method: 'POST', body: { enterprise_id: x.enterprise.id, [x.title ? 'hazard_id' : 'warning_id']: x.id } });
          toast(t('sv.drafted'), 'ok'); load();
        } }, t('sv.draft')) : null }],
      [...c.hazards, ...c.warnings], { empty: empty(t('common.none')) })));
    }
  }
  await load();
  let pending = null;
  onLive(ctx, ev => { if (ev.type === 'supervision' && !pending) pending = setTimeout(() => { pending = null; load(); }, 300); });
  ctx.onLeave(() => clearTimeout(pending));
}

function button(label, name, onclick, primary) { return h('button', { class: 'btn sm' + (primary ? ' primary' : ''), 'data-action': name, onclick }, label); }

function textAction(url, label, field, required, reload) {
  return () => formModal(label, [formRow(t('sv.field.' + field), h('textarea', { name: field, required, maxlength: 4000 }))], async v => {
    await api(url, { method: 'POST', body: v[field] ? { [field]: v[field] } : {} });
    toast(label + ' ✓', 'ok'); reload();
  }, label);
}

function actions(ctx, tab, x, reload) {
  const out = [];
  const gov = !ctx.isEnt, rank = { street: 1, district: 2, city: 3 }[ctx.me.scope.kind] || 0;
  if (tab === 'sv') {
    const url = `/api/v1/supervisions/${x.id}/`;
    const open = x.status !== 'closed';
    if (gov && open && rank >= { street: 1, district: 2, city: 3 }[x.level])
      out.push(button(t('sv.assign'), 'sv-assign', () => assign(ctx, x, reload), true));
    if (['open', 'assigned'].includes(x.status) && (ctx.isEnt || x.assignee === ctx.me.username))
      out.push(button(t('sv.respond'), 'sv-respond', textAction(url + 'respond', t('sv.respond'), 'response', true, reload), true));
    if (gov && open && rank >= { street: 1, district: 2, city: 3 }[x.level])
      out.push(button(t('sv.close'), 'sv-close', textAction(url + 'close', t('sv.close'), 'result', true, reload)));
  } else if (tab === 'rf' && gov && rank >= 2) {
    const url = `/api/v1/enforcement-referrals/${x.id}/`;
    if (x.status === 'open') out.push(button(t('sv.accept'), 'rf-accept', textAction(url + 'accept', t('sv.accept'), 'note', false, reload), true),
      button(t('sv.reject'), 'rf-reject', textAction(url + 'reject', t('sv.reject'), 'reason', true, reload)));
    if (x.status === 'accepted') out.push(button(t('sv.conclude'), 'rf-close', () => formModal(t('sv.conclude'), [
      formRow(t('sv.field.outcome'), h('textarea', { name: 'outcome', required: true })), formRow(t('sv.decision_no'), h('input', { name: 'decision_no' })),
      formRow(t('sv.amount'), h('input', { name: 'penalty_amount', type: 'number', min: 0, step: '0.01' })),
      formRow(t('sv.decided_on'), h('input', { name: 'decided_on', type: 'date', required: true }))], async v => {
      const b = { outcome: v.outcome, decided_on: v.decided_on };
      if (v.decision_no) b.decision_no = v.decision_no;
      if (v.penalty_amount) b.penalty_amount = +v.penalty_amount;
      await api(url + 'close', { method: 'POST', body: b }); toast(t('sv.conclude') + ' ✓', 'ok'); reload();
    }), true));
  } else if (tab === 'nt') {
    const url = `/api/v1/notices/${x.id}/`;
    if (gov && ctx.isAdmin && x.status === 'draft') out.push(button(t('sv.approve'), 'nt-approve', async () => { await api(url + 'approve', { method: 'POST' }); reload(); }, true));
    if (gov && rank >= 2 && x.status === 'approved') out.push(button(t('sv.publish'), 'nt-publish', async () => { await api(url + 'publish', { method: 'POST' }); reload(); }, true));
    out.push(h('a', { class: 'btn sm', href: url + 'export', target: '_blank' }, t('common.export')));
  }
  return h('span', { style: { display: 'flex', gap: '4px', flexWrap: 'wrap' } }, out);
}

async function assign(ctx, x, reload) {
  let people = [];
  if (hasRoute('GET', '/api/v1/accounts') && ctx.isAdmin)
    people = ((await api('/api/v1/accounts').catch(() => ({ items: [] }))).items || []).filter(a => !String(a.role).startsWith('enterprise') && !a.disabled);
  formModal(t('sv.assign'), [
    formRow(t('sv.assignee'), people.length ? select('account_id', people.map(a => [a.id, `${a.display_name || a.username} (${a.username})`]), people[0].id)
      : h('input', { name: 'account_id', type: 'number', min: 1, required: true })),
    formRow(t('common.note'), h('textarea', { name: 'note', maxlength: 4000 }))], async v => {
    await api(`/api/v1/supervisions/${x.id}/assign`, { method: 'POST', body: { account_id: +v.account_id, ...(v.note ? { note: v.note } : {}) } });
    toast(t('sv.assign') + ' ✓', 'ok'); reload();
  });
}
