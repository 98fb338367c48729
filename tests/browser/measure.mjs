// Page load times in Chromium against a running dustwatch (the demo city of
// deploy/run-local.sh):  node measure.mjs [BASE_URL] [USER] [PASSWORD]
// "first" = fresh browser context (empty cache, logged in by API), "warm" =
// the same page reloaded from that context's cache.  Time = navigation start
// until the page's main content is on screen (its ready selector).
import { launch, sleep } from './harness.mjs';

const base = process.argv[2] || 'http://127.0.0.1:8080';
const user = process.argv[3] || 'baoshan.staff';
const pw = process.argv[4] || 'Paotai#Bay2026';
const browser = await launch();
async function ctxLoggedIn() {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const r = await context.request.post(base + '/api/v1/auth/login', { data: { username: user, password: pw } });
  if (!r.ok()) throw new Error('login failed: ' + r.status());
  return context;
}
const c0 = await ctxLoggedIn();
const list = await (await c0.request.get(base + '/api/v1/enterprises?limit=1')).json();
const eid = list.items[0].id;
const me = await (await c0.request.get(base + '/api/v1/auth/me')).json().catch(() => ({}));
await c0.close();
// an enterprise account (ent.manager Dust#Filter2026 in the demo) has its own pages
const enterprisePages = [
  ['login', '/', 'input[name=username]', false],
  ['archive (own)', `/#/enterprises/${eid}`, '[data-testid=enterprise-name]'],
  ['archive: points', `/#/enterprises/${eid}?tab=points`, '[data-testid=points-table]'],
  ['archive: risk', `/#/enterprises/${eid}?tab=risk`, '[data-tab-body=risk] canvas'],
  ['archive: assets', `/#/enterprises/${eid}?tab=assets`, '[data-testid=gateways-table], [data-testid=gateways] .empty'],
  ['monitoring', `/#/monitor/${eid}`, '.chart canvas'],
  ['alarms', '/#/alarms', '[data-testid=alarm-list] table, [data-testid=alarm-list] .empty'],
  ['warnings', '/#/warnings', '[data-testid=warning-list] table, [data-testid=warning-list] .empty'],
  ...['cleaning', 'filings', 'hazards', 'duty', 'bulk'].map(p => [p, `/#/${p}`, anyContent(p)]),
];
const pages = /^enterprise/.test(me.role || '') ? enterprisePages : [
  ['login', '/', 'input[name=username]', false],
  ['overview 一张图', '/#/overview', '[data-testid=map] .leaflet-interactive, [data-testid=map] canvas'],
  ['enterprise list', '/#/enterprises', '[data-testid=enterprise-table]'],
  ['archive', `/#/enterprises/${eid}`, '[data-testid=enterprise-name]'],
  ['archive: points', `/#/enterprises/${eid}?tab=points`, '[data-testid=points-table]'],
  ['archive: risk', `/#/enterprises/${eid}?tab=risk`, '[data-tab-body=risk] canvas'],
  ['monitoring', `/#/monitor/${eid}`, '.chart canvas'],
  ['alarms', '/#/alarms', '[data-testid=alarm-list] table, [data-testid=alarm-list] .empty'],
  ['warnings', '/#/warnings', '[data-testid=warning-list] table, [data-testid=warning-list] .empty'],
  ['cleaning', '/#/cleaning', '[data-testid=compliance-table], [data-page=cleaning] .empty'],
  ['monitor picker', '/#/monitor', '[data-pick-state]'],
  ['archive: assets', `/#/enterprises/${eid}?tab=assets`, '[data-testid=gateways-table], [data-testid=gateways] .empty'],
  ['wall 大屏', '/#/wall', '[data-testid=wall-map] .leaflet-interactive, [data-testid=wall-map] canvas'],
  // the pages of issues 14-18: ready when their first table, chart or empty note is drawn
  ...['stats', 'reports', 'filings', 'hazards', 'supervision', 'duty', 'spotchecks', 'notify', 'forward',
    'backtest', 'accounts', 'regions', 'survey', 'bulk'].map(p => [p, `/#/${p}`, anyContent(p)]),
  ['archive: files', `/#/enterprises/${eid}?tab=files`, anyContent('enterprise')],
  ['archive: roster', `/#/enterprises/${eid}?tab=roster`, anyContent('enterprise')],
];
function anyContent(page) {
  const p = `.page[data-page=${page}]`;
  return [' table', ' .empty', ' canvas', ' .tiles'].map(x => p + x).join(', ');
}
console.log(`page load in Chromium, ${base}, user ${user}`);
console.log('page'.padEnd(18), 'first ms'.padStart(9), 'warm ms'.padStart(9));
for (const [name, path, sel, logged = true] of pages) {
  const context = logged ? await ctxLoggedIn() : await browser.newContext();
  const page = await context.newPage();
  let t = Date.now();
  await page.goto(base + path, { waitUntil: 'commit' });
  await page.waitForSelector(sel, { timeout: 30000 });
  const first = Date.now() - t;
  await sleep(300);
  t = Date.now();
  await page.reload({ waitUntil: 'commit' });
  await page.waitForSelector(sel, { timeout: 30000 });
  const warm = Date.now() - t;
  console.log(name.padEnd(18), String(first).padStart(9), String(warm).padStart(9));
  await context.close();
}
await browser.close();
