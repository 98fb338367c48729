// The label catalogue served by GET /api/v1/labels (one catalogue, zh-CN and
// English, for codes the API answers with: alarm kinds and reasons, risk rule
// codes, enum values, industry codes ...).  Loaded once per tab; lbl() falls
// back to the dashboard's own texts (i18n.js) and then to the code itself.
import { api, hasRoute } from './api.js';
import { getLang, t } from './i18n.js';

let domains = {};
let loading = null;

export function loadLabels() {
  if (!loading) {
    loading = hasRoute('GET', '/api/v1/labels')
      ? api('/api/v1/labels').then(r => { domains = (r && r.domains) || {}; }).catch(() => { loading = null; })
      : Promise.resolve();
  }
  return loading;
}

// lbl('alarm_kind', 'spark') -> 火花探测 / Spark detected; fallback: t(fallbackPrefix + '.' + code)
export function lbl(domain, code, fallbackPrefix) {
  if (code == null) return t('common.na');
  const e = domains[domain] && domains[domain][code];
  if (e) return getLang() === 'en' ? e.en : e.zh;
  return fallbackPrefix ? t(fallbackPrefix + '.' + code, {}, String(code)) : String(code);
}

// a {zh, en} object as the API answers it (value_text)
export function pick(v) { return v ? (getLang() === 'en' ? v.en : v.zh) : null; }
// the codes of a domain, in catalogue order ([] before loadLabels())
export function labelCodes(domain) { return Object.keys(domains[domain] || {}); }
