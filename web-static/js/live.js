// Live events: one EventSource on /api/v1/events per tab (the browser
// reconnects by itself and sends Last-Event-ID, so nothing is missed while the
// ring still holds it).  Pages subscribe; when the route is missing the status
// says "polling" and pages refresh on their own timers.
import { hasRoute } from './api.js';

const subs = new Set();
let es = null, status = 'off';
const statusSubs = new Set();
const TYPES = ['alarm', 'warning', 'risk', 'ingest', 'message', 'notice', 'filing', 'hazard', 'supervision'];

function setStatus(s) { status = s; statusSubs.forEach(f => f(s)); }
export function liveStatus() { return status; }
export function onLiveStatus(f) { statusSubs.add(f); f(status); return () => statusSubs.delete(f); }
export function liveAvailable() { return hasRoute('GET', '/api/v1/events'); }

export function startLive() {
  if (es) return;
  if (!liveAvailable()) { setStatus('poll'); return; }
  es = new EventSource('/api/v1/events', { withCredentials: true });
  es.onopen = () => setStatus('on');
  es.onerror = () => setStatus(es && es.readyState === EventSource.CLOSED ? 'off' : 'poll');
  for (const type of TYPES) es.addEventListener(type, ev => {
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    if (!data.type) data.type = type;
    data._id = ev.lastEventId;
    data._at = Date.now();
    subs.forEach(f => { try { f(data); } catch (e) { console.error(e); } });
  });
  // the server ends a stream whose account got another scope: the pages show the old one
  es.addEventListener('end', ev => {
    let data = {};
    try { data = JSON.parse(ev.data); } catch { /* ignore */ }
    if (data.reason === 'scope_changed') location.reload();
  });
}
export function stopLive() { if (es) es.close(); es = null; setStatus('off'); }
// subscribe for the life of a page
export function onLive(ctx, f) { subs.add(f); ctx.onLeave(() => subs.delete(f)); }
