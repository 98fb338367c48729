// 系统值守 (government): the work queue of the person on watch, oldest first
// with deadlines, the duty roster and shift handover notes.  我的待办
// (enterprise): its own to-do list.  Each row links to where it is worked.
import { api, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, toast, loading, stat, duration } from '../ui.js';
import { onLive } from '../live.js';

const LINK = {
  warning_unsigned: 'warnings', clearance_request: 'warnings', warning_overdue: 'warnings', warning_sign: 'warnings', warning_clear: 'warnings',
  alarm_overdue: 'alarms', alarm_acknowledge: 'alarms', alarm_handle: 'alarms', hazard_due: 'hazards', hazard_plan: 'hazards', hazard_rectify: 'hazards',
  filing_to_approve: 'filings', filing_returned: 'filings', supervision_open: 'supervision', supervision_answer: 'supervision', cleaning_due: 'cleaning', spot_finding_answer: 'spotchecks',
};

function due(x) {
  if (!x.deadline) return t('common.na');
  const left = (Date.parse(x.deadline) - Date.now()) / 1000;
  return h('span', { class: 'countdown ' + (left < 0 ? 'late' : left < 3600 ? 'soon' : ''), title: fmtTime(x.deadline) },
    fmtTime(x.deadline) + ' · ' + (left < 0 ? t('wn.late', { t: duration(left) }) : t('wn.left', { t: duration(left) })));
}

function itemTable(items, withEnt) {
  return table([
    { title: t('duty.kind'), render: x => h('span', { class: 'tag ' + (x.overdue ? 'bad' : 'warn'), 'data-kind': x.kind }, t('duty.k.' + x.kind, {}, x.kind)) },
    withEnt ? { title: t('common.enterprise'), render: x => h('a', { href: '#/enterprises/' + x.enterprise.id }, x.enterprise.name) } : null,
    { title: t('duty.detail'), render: x => h('a', { href: '#/' + LINK[x.kind] + (['warnings', 'hazards', 'filings'].includes(LINK[x.kind]) ? '/' + x.id : '') }, '#' + x.id + ' ' + (x.detail || '')) },
    { title: t('duty.since'), render: x => fmtTime(x.since) },
    { title: t('duty.deadline'), render: due },
  ].filter(Boolean), items, { empty: empty(t('duty.empty')), rowClass: x => x.overdue ? 'overdue' : null, rowAttrs: x => ({ 'data-item': x.kind + ':' + x.id }) });
}

export default async function dutyPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t(ctx.isEnt ? 'duty.todo' : 'duty.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (ctx.isEnt) {
    if (!hasRoute('GET', '/api/v1/enterprises/{id}/todo')) { el.append(card(t('duty.todo'), missingRoute('GET /api/v1/enterprises/{id}/todo'))); return; }
    const box = h('div', null, loading());
    el.append(box);
    const load = async () => {
      try {
        const r = await api(`/api/v1/enterprises/${ctx.me.scope.id}/todo`);
        if (ctx.alive) fill(box, card(t('duty.todo') + ` (${r.total})`, itemTable(r.items, false), null, { 'data-testid': 'todo-list' }));
      } catch (e) { fill(box, errorBox(e)); }
    };
    await load();
    onLive(ctx, () => load());
    return;
  }
  if (!hasRoute('GET', '/api/v1/duty/queue')) { el.append(card(t('duty.title'), missingRoute('GET /api/v1/duty/queue'))); return; }
  const stats = h('div', { class: 'stats' }), queue = h('div', null, loading()), side = h('div', { class: 'grid g2' });
  el.append(stats, queue, side);
  async function load() {
    let q;
    try { q = await api('/api/v1/duty/queue'); } catch (e) { fill(queue, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(stats, stat(t('duty.total'), q.total, q.total ? 'red' : 'ok'), ...Object.entries(q.counts).map(([k, n]) => stat(t('duty.k.' + k, {}, k), n)));
    fill(queue, card(t('duty.queue'), itemTable(q.items, true), null, { 'data-testid': 'duty-queue' }));
  }
  async function loadSide() {
    const [roster, notes] = await Promise.all([api('/api/v1/duty/roster').catch(() => ({ items: [] })), api('/api/v1/duty/handovers').catch(() => ({ items: [] }))]);
    if (!ctx.alive) return;
    const write = ctx.me.scope.kind === 'district' && hasRoute('POST', '/api/v1/duty/handovers')
      ? h('button', { class: 'btn sm primary', 'data-action': 'handover', onclick: () => formModal(t('duty.handover'), [formRow(t('common.note'), h('textarea', { name: 'note', required: true, maxlength: 4000 }))],
        async v => { await api('/api/v1/duty/handovers', { method: 'POST', body: { note: v.note } }); toast(t('duty.handover') + ' ✓', 'ok'); loadSide(); }) }, t('duty.handover')) : null;
    fill(side,
      card(t('duty.roster'), table([{ title: t('duty.who'), render: x => h('span', null, x.display_name || x.username, x.on_duty_now ? h('span', { class: 'tag ok', style: { marginLeft: '6px' } }, t('duty.now')) : null) },
        { title: t('duty.shift'), render: x => fmtTime(x.starts_at) + ' ~ ' + fmtTime(x.ends_at) }, { title: t('common.note'), key: 'note' }], roster.items, { empty: empty(t('common.none')) })),
      card(t('duty.handovers'), notes.items.length ? h('ul', { class: 'timeline', 'data-testid': 'handovers' }, notes.items.map(n =>
        h('li', null, h('b', null, n.author), ' · ', fmtTime(n.at), ' · ', t('duty.open_items', { n: n.open_items }), h('div', { class: 'muted' }, n.note)))) : empty(t('common.none')), write));
  }
  await load();
  loadSide();
  let pending = null;
  onLive(ctx, ev => { if (['warning', 'alarm', 'filing', 'hazard', 'supervision'].includes(ev.type) && !pending) pending = setTimeout(() => { pending = null; load(); }, 500); });
  const poll = setInterval(load, 30000); // deadlines pass without events
  ctx.onLeave(() => { clearTimeout(pending); clearInterval(poll); });
}
