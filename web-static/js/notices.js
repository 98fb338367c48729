// Supervision notices (GET /api/v1/equipment-notices): an enterprise deleted one of its
// gateways or revoked an ingest credential.  A card for the district's pages
// listing the unseen ones with a 已知悉 button; a live "notice" event adds the
// new one at once and shows a toast.
import { api, hasRoute, mayUse } from './api.js';
import { t } from './i18n.js';
import { h, fill, card, empty, errorBox, fmtTime, toast } from './ui.js';
import { onLive } from './live.js';

export function noticesCard(ctx) {
  if (!hasRoute('GET', '/api/v1/equipment-notices') || ctx.isEnt) return null;
  const box = h('div', { 'data-testid': 'notices' });
  const count = h('span', { class: 'tag muted', 'data-testid': 'notices-open' }, '0');
  const el = card(t('d17.notices'), box, count, { flush: true, 'data-testid': 'notices-card' });
  const canSee = mayUse(ctx.me, 'POST', '/api/v1/equipment-notices/{id}/seen');
  async function load() {
    let r;
    try { r = await api('/api/v1/equipment-notices?open=true&limit=20'); } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    count.textContent = String(r.open);
    count.className = 'tag ' + (r.open ? 'bad' : 'muted');
    fill(box, r.items.length ? h('div', { class: 'feed' }, r.items.map(n => h('div', { class: 'item', 'data-notice': n.id, 'data-notice-kind': n.kind },
      h('span', { class: 'tag warn' }, t('d17.notice.' + n.kind, {}, n.kind)),
      h('div', null, h('a', { href: `#/enterprises/${n.enterprise.id}?tab=assets` }, n.enterprise.name), ' · ', n.object,
        canSee ? h('button', { class: 'btn sm', style: { marginLeft: '8px' }, 'data-action': 'notice-seen', onclick: async () => {
          try { await api(`/api/v1/equipment-notices/${n.id}/seen`, { method: 'POST', body: {} }); load(); } catch (e) { toast(e.message, 'error'); }
        } }, t('d17.notice.seen')) : null),
      h('div', { class: 'when' }, fmtTime(n.created_at, true), ' · ', n.actor, n.detail ? ' · ' + n.detail : '')))) : empty(t('d17.notices.none')));
  }
  onLive(ctx, ev => {
    if (ev.type !== 'notice') return;
    toast(t('d17.notice.' + ev.action, {}, ev.action) + ' · ' + (ev.object || ''), 'alarm', 8000);
    load();
  });
  load();
  return el;
}
