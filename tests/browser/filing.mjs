// Browser tests of filings on the monitor page (issue 14 item 1): the trend of a point an
// approved filing covers shades the filed period and says so; a point it does not cover
// shows none.  Own server and city (harness.mjs); prints one line per test and the
// closing "N passed, N failed".
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, loginPage, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

class Skip extends Error {}
const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };

let db, srv, browser, ents, routes;
const errors = [];
const need = (m, p) => { if (!routes.some(r => r.method === m && r.path === p)) throw new Skip(`${m} ${p} not on this server yet`); };

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [['baoshan.admin', 'district_admin', '--region', '310113'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code]]) {
    db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  }
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 500, DUSTWATCH_ENTERPRISE_OFFLINE_MIN_POINTS: 0 });
  routes = await srv.routes();
  browser = await launch();
}

// ---------------------------------------------------------------------------
async function test_trend_shades_the_filed_period() {
  need('POST', '/api/v1/enterprises/{id}/filings');
  const ent = ents[0], hop = ent.points.hopper_temp, pd = ent.points.pressure_diff;
  const now = Date.now();
  await srv.ingest(ent, [0, 1, 2, 3, 4, 5].flatMap(i => [
    { point: hop.code, ts: new Date(now - (60 - i * 10) * 60000).toISOString(), value: 30 + i },
    { point: pd.code, ts: new Date(now - (60 - i * 10) * 60000).toISOString(), value: 900 + i }]));
  // the hopper-temperature point was filed for maintenance from 30 minutes ago
  const tok = await srv.token('a1.manager'), adm = await srv.token('baoshan.admin');
  const f = await srv.api('POST', `/api/v1/enterprises/${ent.id}/filings`, { type: 'maintenance', reason: '更换灰斗温度传感器',
    starts_at: new Date(now - 30 * 60000).toISOString(), ends_at: new Date(now + 3600000).toISOString(), point_ids: [hop.id] }, tok);
  assert(f.status === 201, 'file: ' + f.text);
  const a = await srv.api('POST', `/api/v1/filings/${f.body.filing.id}/approve`, { note: '同意' }, adm);
  assert(a.status === 200, 'approve: ' + a.text);

  const e = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await e.page.goto(`${srv.base}/#/monitor/${ent.id}?range=6h&point=${hop.id}`);
  await e.page.waitForSelector('[data-series-filings="1"]', { timeout: 15000 });
  // the chart carries one shaded area, from the filing's start (shifted to the display zone like the data)
  await e.page.waitForFunction(() => {
    const el = document.querySelector('.chart.tall');
    const c = el && window.echarts && window.echarts.getInstanceByDom(el);
    return c && c.getOption().series.some(s => s.markArea && [].concat(s.markArea)[0] && ([].concat(s.markArea)[0].data || []).length === 1);
  }, null, { timeout: 15000 });
  await e.page.screenshot({ path: join(shots, 'filing-trend.png') });
  // the other point of the enterprise is not covered: its trend has no filed period
  await e.page.goto(`${srv.base}/#/monitor/${ent.id}?range=6h&point=${pd.id}`);
  await e.page.waitForFunction(() => document.body.innerText.includes('pressure_diff ·'), null, { timeout: 15000 });
  const r = await srv.api('GET', `/api/v1/points/${pd.id}/series`, undefined, tok);
  assert(r.status === 200 && Array.isArray(r.body.filings) && r.body.filings.length === 0, 'uncovered point: ' + r.text);
  assert(await e.page.$('[data-series-filings]') === null, 'an uncovered point shows a filed period');
  await e.context.close();
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'script errors:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_trend_shades_the_filed_period, test_no_script_errors];
let passed = 0, failed = 0, skipped = 0;
try {
  await setup();
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t();
      passed++;
      console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      if (e instanceof Skip) { skipped++; console.log(`skip ${t.name}: ${e.message}`); continue; }
      failed++;
      console.log(`FAIL ${t.name}\n${e.stack}`);
    }
  }
} catch (e) {
  failed++;
  console.log('FAIL setup\n' + e.stack + (srv ? '\n' + srv.log() : ''));
} finally {
  if (browser) await browser.close().catch(() => {});
  if (srv) await srv.stop().catch(() => {});
  if (db) db.drop();
}
console.log(`screenshots: ${shots}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
