// Browser tests of the risk model / backtest page and the notification pages
// (issue 16), headless in Debian's Chromium.  Own server and small city; same
// output as run.mjs: one line per test and "N passed, N failed".
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, loginPage, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [
    ['city.admin', 'city_admin', '--region', '310000'],
    ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code],
  ]) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 300 });
  browser = await launch();
}

async function shot(page, name) { await page.screenshot({ path: join(shots, name + '.png') }); }

// ---------------------------------------------------------------------------
async function test_backtest_page_renders_runs_and_stores_a_version() {
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.waitForSelector('[data-nav=backtest]');
  await page.click('[data-nav=backtest]');
  await page.waitForSelector('[data-testid=model-version]');
  assert((await page.textContent('[data-testid=model-version]')).trim() === '2026.2-calibrated', 'model version in force');
  // the fixture's scores (the worker's first ticks) are inside the default period
  await page.click('[data-action=run-backtest]');
  await page.waitForSelector('[data-testid=grade-counts]');
  const cells = await page.$$eval('[data-testid=grade-counts] tbody tr', rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.textContent.trim())));
  assert(cells.length === 4, 'four grades: ' + JSON.stringify(cells));
  const total = cells.reduce((n, r) => n + Number(r[1]), 0);
  assert(total === ents.length, `stored counts add up to the city (${total}): ` + JSON.stringify(cells));
  await shot(page, 'backtest');
  // a candidate with yellow at 20 stored as the version in force (confirm dialog accepted)
  await page.$eval('textarea[name=model]', ta => {
    const m = JSON.parse(ta.value); m.version = 'browser-2026'; m.grade_thresholds.yellow = 20; ta.value = JSON.stringify(m, null, 2);
  });
  page.once('dialog', d => d.accept());
  await page.click('[data-action=store-model]');
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=model-version]');
    return v && v.textContent.trim() === 'browser-2026';
  }, null, { timeout: 10000 });
  assert((await page.textContent('[data-testid=versions-table]')).includes('browser-2026'), 'stored version listed');
  await context.close();
  // a district administrator sees the model but neither the backtest nor the store button
  const d = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await d.page.goto(srv.base + '/#/backtest');
  await d.page.waitForSelector('[data-testid=model-version]');
  assert(!(await d.page.$('[data-action=run-backtest]')) && !(await d.page.$('[data-action=store-model]')), 'district sees city-only actions');
  await d.context.close();
}

async function test_subscription_created_in_the_page_and_roster() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.waitForSelector('[data-nav=notify]');
  await page.click('[data-nav=notify]');
  await page.waitForSelector('[data-action=new-subscription]');
  await page.click('[data-action=new-subscription]');
  await page.fill('input[name=name]', '区值班平台');
  await page.fill('input[name=url]', 'https://duty.example.gov.cn/hook');
  await page.check('input[name=levels][value="2"]');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=subs-table] [data-sub="区值班平台"]');
  const row = await page.textContent('[data-testid=subs-table] [data-sub="区值班平台"]');
  assert(row.includes('https://duty.example.gov.cn/hook'), 'target shown: ' + row);
  const stored = db.sql("SELECT scope_kind, channel, url, array_to_string(events, ','), array_to_string(levels, ',') FROM webhook_subscriptions");
  assert(JSON.stringify(stored) === JSON.stringify([['district', 'webhook', 'https://duty.example.gov.cn/hook', 'alarm,warning', '2']]), 'stored: ' + JSON.stringify(stored));
  await page.waitForSelector('[data-testid=deliveries-table], .empty');
  await shot(page, 'notify-subscriptions');
  await context.close();
  // an enterprise manager keeps its duty roster on the same page
  const e = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await e.page.goto(srv.base + '/#/notify');
  await e.page.waitForSelector('[data-action=add-duty]');
  await e.page.click('[data-action=add-duty]');
  await e.page.fill('input[name=name]', '值班员甲');
  await e.page.fill('input[name=phone]', '13900000001');
  await e.page.click('button[type=submit]');
  await e.page.waitForSelector('[data-testid=roster-table]');
  assert((await e.page.textContent('[data-testid=roster-table]')).includes('13900000001'), 'roster entry shown');
  await e.context.close();
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_backtest_page_renders_runs_and_stores_a_version, test_subscription_created_in_the_page_and_roster,
  test_no_script_errors];
let passed = 0, failed = 0;
try {
  await setup();
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t();
      passed++;
      console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
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
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
