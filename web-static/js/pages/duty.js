// 系统值守 (government): the work queue of the person on watch, oldest first
// with deadlines, the duty roster and shift handover notes.  我的待办
// (enterprise): its own to-do list.  Each row links to where it is worked.
import { api, hasRoute, mayUse } from '../api.js';
import { loadLabels, lbl } from '../labels.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, toast, loading, stat, duration, select } from '../ui.js';
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

// the detail column is a code for most kinds (grade, alarm kind, filing type, level):
// its label; hazard titles and cleaning area names are text already
function detailText(x) {
  const d = x.detail || '';
  if (x.kind.startsWith('warning') || x.kind === 'clearance_request') return lbl('grade', d);
  if (x.kind.startsWith('alarm')) return lbl('alarm_kind', d);
  if (x.kind.startsWith('filing_to')) return t('fl.type.' + d, {}, d);
  if (x.kind.startsWith('supervision')) return t('level.' + d, {}, d);
  return d;
}
function itemTable(items, withEnt) {
  return table([
    { title: t('duty.kind'), render: x => h('span', { class: 'tag ' + (x.overdue ? 'bad' : 'warn'), 'data-kind': x.kind }, t('duty.k.' + x.kind, {}, x.kind)) },
    withEnt ? { title: t('common.enterprise'), render: x => h('a', { href: '#/enterprises/' + x.enterprise.id }, x.enterprise.name) } : null,
    { title: t('duty.detail'), render: x => h('a', { href: '#/' + LINK[x.kind] + (['warnings', 'hazards', 'filings'].includes(LINK[x.kind]) ? '/' + x.id : '') }, '#' + x.id + ' ' + detailText(x)) },
    { title: t('duty.since'), render: x => fmtTime(x.since) },
    { title: t('duty.deadline'), render: due },
  ].filter(Boolean), items, { empty: empty(t('duty.empty')), rowClass: x => x.overdue ? 'overdue' : null, rowAttrs: x => ({ 'data-item': x.kind + ':' + x.id }) });
}

export default async function dutyPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t(ctx.isEnt ? 'duty.todo' : 'duty.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  await loadLabels();
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
  const inbox = h('div');
  el.append(stats, inbox, queue, side);
  if (hasRoute('GET', '/api/v1/notify/inbox')) inboxCard(ctx, inbox);
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
        { title: t('duty.shift'), render: x => fmtTime(x.starts_at) + ' ~ ' + fmtTime(x.ends_at) }, { title: t('duty.phone'), render: x => x.phone || '' },
        { title: t('common.note'), key: 'note' },
        canShift ? { title: t('common.actions'), render: x => h('button', { class: 'btn sm', 'data-action': 'remove-shift', onclick: () => removeShift(x) }, t('duty.remove')) } : null,
      ].filter(Boolean), roster.items, { empty: empty(t('common.none')), attrs: { 'data-testid': 'watch-roster' }, rowAttrs: x => ({ 'data-shift': x.username }) }),
        canShift ? h('button', { class: 'btn sm', 'data-action': 'add-shift', onclick: addShift }, '+ ' + t('duty.add')) : null),
      card(t('duty.handovers'), notes.items.length ? h('ul', { class: 'timeline', 'data-testid': 'handovers' }, notes.items.map(n =>
        h('li', null, h('b', null, n.author), ' · ', fmtTime(n.at), ' · ', t('duty.open_items', { n: n.open_items }), h('div', { class: 'muted' }, n.note)))) : empty(t('common.none')), write));
  }
  // the watch roster: a district administrator (the city: any district) puts its staff on shifts
  const canShift = mayUse(ctx.me, 'POST', '/api/v1/duty/roster') && ctx.me.scope.kind === 'district';
  async function addShift() {
    let accounts = [];
    try { accounts = (await api('/api/v1/accounts')).items.filter(a => !a.enterprise_id && !a.disabled); } catch (e) { toast(e.message, 'bad'); return; }
    const local = d => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    const now = new Date();
    formModal(t('duty.add'), [
      formRow(t('duty.who'), select('account_id', accounts.map(a => [a.id, (a.display_name || a.username) + ' (' + a.username + ')']))),
      formRow(t('duty.starts'), h('input', { type: 'datetime-local', name: 'starts_at', required: true, value: local(now) })),
      formRow(t('duty.ends'), h('input', { type: 'datetime-local', name: 'ends_at', required: true, value: local(new Date(now.getTime() + 8 * 3600e3)) })),
      formRow(t('duty.phone'), h('input', { type: 'tel', name: 'phone', maxlength: 21 })),
      formRow(t('common.note'), h('input', { type: 'text', name: 'note', maxlength: 1000 })),
    ], async v => {
      const body = { account_id: +v.account_id, starts_at: new Date(v.starts_at).toISOString(), ends_at: new Date(v.ends_at).toISOString(), note: v.note || '' };
      if (v.phone) body.phone = v.phone;
      await api('/api/v1/duty/roster', { method: 'POST', body });
      toast(t('set.saved'), 'ok');
      loadSide();
    });
  }
  async function removeShift(x) {
    try { await api('/api/v1/duty/roster/' + x.id, { method: 'DELETE' }); toast(t('duty.removed'), 'ok'); loadSide(); } catch (e) { toast(e.message, 'bad'); }
  }
  await load();
  loadSide();
  let pending = null;
  onLive(ctx, ev => { if (['warning', 'alarm', 'filing', 'hazard', 'supervision'].includes(ev.type) && !pending) pending = setTimeout(() => { pending = null; load(); }, 500); });
  const poll = setInterval(load, 30000); // deadlines pass without events
  ctx.onLeave(() => { clearTimeout(pending); clearInterval(poll); });
}

// 我的通知: what reached the signed-in person while on watch (inapp subscriptions with
// to_watch); opening one marks it read (a read receipt in the delivery log).
function inboxText(p) {
  const ent = p.enterprise_name || p.enterprise_code || '';
  if (p.type === 'alarm') return [ent, p.point_name, p.kind ? lbl('alarm_kind', p.kind) : null, p.level ? lbl('alarm_level', p.level) : null].filter(Boolean).join(' · ');
  if (p.type === 'warning') return [ent, p.grade ? lbl('grade', p.grade) : null, p.status ? lbl('warning_status', p.status) : null].filter(Boolean).join(' · ');
  if (p.type === 'filing') return [ent, t('fl.type.' + p.filing_type, {}, p.filing_type), p.reason].filter(Boolean).join(' · ');
  if (p.type === 'cleaning') return [ent, p.area_name].filter(Boolean).join(' · ');
  return ent;
}
async function inboxCard(ctx, box) {
  await loadLabels();
  async function load() {
    let r;
    try { r = await api('/api/v1/notify/inbox?limit=20'); } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(box, card(t('nt.inbox') + (r.unread ? ' · ' + t('nt.inbox.unread', { n: r.unread }) : ''), r.items.length ? h('ul', { class: 'timeline', 'data-testid': 'inbox' }, r.items.map(x => {
      const more = h('div', { class: 'muted', hidden: true, 'data-testid': 'inbox-detail' }, inboxText(x.payload));
      const open = async () => {
        more.hidden = false;
        if (x.read_at) return;
        try { await api(`/api/v1/notify/inbox/${x.id}/read`, { method: 'POST' }); load(); } catch (e) { toast(e.message, 'bad'); }
      };
      return h('li', { 'data-inbox': x.dedup_key, 'data-read': x.read_at ? 'yes' : 'no', class: x.read_at ? null : 'unread' },
        h(x.read_at ? 'span' : 'b', null, t('nt.ev.' + String(x.event).split(':')[0], {}, x.event), ' · ', x.payload.enterprise_name || ''), ' · ', fmtTime(x.created_at), ' ',
        h('button', { class: 'btn sm', 'data-action': 'open-inbox', onclick: open }, t('nt.inbox.open')), more);
    })) : empty(t('nt.inbox.none')), null, { 'data-testid': 'inbox-card' }));
  }
  await load();
  onLive(ctx, ev => { if (['alarm', 'warning', 'filing'].includes(ev.type)) setTimeout(load, 1500); });
}
