// The REST client: same-origin fetch with the HttpOnly session cookie
// (SameSite=Strict), JSON writes (the server refuses other content types, which
// is the CSRF guard), the API's own error messages, and the route table so
// pages can tell "not built yet" from "failed".
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, body) {
    const code = body && body.code || 'http_' + status;
    super(messageFor(status, body));
    this.status = status; this.code = code; this.body = body;
  }
}

function messageFor(status, body) {
  if (!body || typeof body !== 'object') return t('err.http', { status });
  const known = t('errcode.' + body.code, {}, null);
  if (body.code === 'login_failed') return known;
  const detail = body.detail || '';
  if (known) return detail ? `${known}（${detail}）` : known;
  return detail || body.hint || body.code || t('err.http', { status });
}

let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

export async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = opts.contentType || 'application/json';
    init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  if (opts.signal) init.signal = opts.signal;
  let res;
  try { res = await fetch(path, init); } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { code: 'network', detail: t('err.network') });
  }
  const ct = res.headers.get('Content-Type') || '';
  const body = ct.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    if (res.status === 401 && !opts.noAuthRedirect) onUnauthenticated();
    throw new ApiError(res.status, typeof body === 'object' ? body : null);
  }
  return body;
}

// ---- the route table (GET /api/v1/routes) -------------------------------
let routes = [];
export async function loadRoutes() {
  try { routes = (await api('/api/v1/routes', { noAuthRedirect: true })).items || []; } catch { routes = []; }
  return routes;
}
export function routeList() { return routes; }
// hasRoute('GET', '/api/v1/alarms/{id}') — pattern as written in routes.c
export function hasRoute(method, pattern) {
  return routes.some(r => r.method === method && r.path === pattern);
}
// may this caller use the route?  The table names the scope kinds it admits
// (roles) and whether only administrators of them may (admin_only); the
// server checks again, this only decides which buttons a page draws.
const ADMIN_ROLES = ['city_admin', 'district_admin', 'enterprise_manager'];
export function mayUse(me, method, pattern) {
  const r = routes.find(x => x.method === method && x.path === pattern);
  if (!r || !me || !me.scope) return false;
  if (r.public) return true;
  if (!(r.roles || []).includes(me.scope.kind)) return false;
  return !r.admin_only || ADMIN_ROLES.includes(me.role);
}
// first existing pattern among candidates (the API is growing)
export function pickRoute(method, ...patterns) {
  return patterns.find(p => hasRoute(method, p)) || null;
}
export function fill(pattern, params) {
  return pattern.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(params[k]));
}

// ---- every page of a list (issue 15: the map and the enterprise list stopped at 500) ----
// path may carry filters; answers {total, items} with all items, in pages of 500.
export async function apiAll(path) {
  const sep = path.includes('?') ? '&' : '?';
  const first = await api(`${path}${sep}limit=500&offset=0`);
  const items = [...(first.items || [])];
  while (items.length < (first.total || 0)) {
    const next = await api(`${path}${sep}limit=500&offset=${items.length}`);
    if (!(next.items || []).length) break;
    items.push(...next.items);
  }
  return { ...first, items, limit: items.length };
}
