// Browser test of online spot checks (issue 14 item 3): a district spot check
// produces a hazard the enterprise rectifies and the district verifies, and a
// rectification request the enterprise answers from its to-do.  Own server and
// city (harness.mjs); prints one line per test and the closing "N passed, N failed".
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
  const accounts = [
    ['baoshan.staff', 'district_staff', '--region', '310113'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code],
  ];
  for (const [u, role, flag, scope] of accounts) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db, {});
  routes = await srv.routes();
  browser = await launch();
}

async function shot(page, name) { await page.screenshot({ path: join(shots, name + '.png') }); }

async function submitModal(page, field, text) {
  if (field) await page.fill(`.modal textarea[name=${field}]`, text);
  await page.click('.modal .ft .btn.primary');
  await page.waitForSelector('.modal-bg', { state: 'detached' });
}

let checkId = null, hazardId = null;

// ---------------------------------------------------------------------------
async function test_district_spot_check_records_a_hazard_and_a_request() {
  need('POST', '/api/v1/spot-campaigns');
  const d = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await d.page.goto(srv.base + '/#/spotchecks');
  await d.page.click('[data-action=new-campaign]');
  await d.page.selectOption('.modal select[name=rule]', 'street');
  await d.page.selectOption('.modal select[name=street_code]', '310113103');
  await submitModal(d.page);
  const link = `[data-testid=spot-checks] [data-check-link="${ents[0].id}"]`;
  await d.page.waitForSelector(link);
  await d.page.waitForSelector(`[data-testid=spot-checks] [data-check-link="${ents[1].id}"]`);
  await d.page.click(link);
  // one screen: the dossier next to the checklist
  await d.page.waitForSelector('[data-testid=spot-record]');
  for (const part of ['dossier-alarms', 'dossier-cleaning', 'dossier-filings', 'dossier-hazards', 'dossier-video'])
    await d.page.waitForSelector(`[data-testid=${part}]`);
  checkId = d.page.url().split('/').pop();
  await d.page.selectOption('select[name="ans.explosion_protection"]', 'finding');
  await d.page.fill('input[name="title.explosion_protection"]', '2号除尘器泄爆片缺失');
  await d.page.selectOption('select[name="ans.cleaning_done"]', 'finding');
  await d.page.fill('input[name="title.cleaning_done"]', '清扫打卡缺3天');
  await d.page.selectOption('select[name="action.cleaning_done"]', 'rectification');
  await d.page.click('[data-action=record]');
  await d.page.waitForSelector('[data-check-state=done]');
  await d.page.waitForSelector('[data-testid=spot-findings] [data-hazard-link]');
  hazardId = await d.page.getAttribute('[data-testid=spot-findings] [data-hazard-link]', 'data-hazard-link');
  const states = await d.page.$$eval('[data-testid=spot-findings] [data-finding-state]', x => x.map(e => e.dataset.findingState).sort());
  assert(JSON.stringify(states) === JSON.stringify(['hazard', 'requested']), 'finding states ' + states);
  const how = db.scalar(`SET dw.scope = 'system'; SELECT found_how || ':' || kind || ':' || major_item FROM hazards WHERE id = ${hazardId}`);
  assert(how === 'spot_check:major:3', 'hazard ' + how);
  await shot(d.page, 'spotcheck-dossier');
  await d.context.close();
}

async function test_enterprise_rectifies_and_district_verifies() {
  if (!hazardId) throw new Skip('no hazard from the spot check');
  const e = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  // the to-do lists the request to answer
  await e.page.goto(srv.base + '/#/duty');
  await e.page.waitForSelector('[data-testid=todo-list] [data-kind=spot_finding_answer]');
  await e.page.goto(srv.base + '/#/hazards');
  const row = `[data-hazard-id="${hazardId}"]`;
  await e.page.waitForSelector(`${row} [data-action=hazard-plan]`);
  await e.page.click(`${row} [data-action=hazard-plan]`);
  await submitModal(e.page, 'plan', '加装泄爆片，7日内完成');
  await e.page.waitForSelector(`${row} [data-hazard-state=planned]`);
  await e.page.click(`${row} [data-action=hazard-rectify]`);
  await submitModal(e.page, 'report', '已加装泄爆片并附照片');
  await e.page.waitForSelector(`${row} [data-hazard-state=rectified]`);
  // and answers the rectification request on the spot-check page
  await e.page.goto(srv.base + '/#/spotchecks');
  await e.page.waitForSelector('[data-testid=spot-findings] [data-action=finding-reply]');
  await e.page.click('[data-testid=spot-findings] [data-action=finding-reply]');
  await submitModal(e.page, 'reply', '已补打卡，制度已张贴');
  await e.page.waitForSelector('[data-testid=spot-findings] [data-finding-state=replied]');

  const d = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await d.page.goto(srv.base + '/#/hazards/' + hazardId);
  await d.page.waitForSelector('[data-action=hazard-verify]');
  await d.page.click('[data-action=hazard-verify]');
  await submitModal(d.page, 'note', '线上复核通过');
  await d.page.waitForSelector('[data-hazard-state=closed]', { timeout: 10000 });
  await d.page.goto(srv.base + '/#/spotchecks/' + checkId);
  await d.page.waitForSelector('[data-testid=spot-findings] [data-action=finding-verify]');
  await d.page.click('[data-testid=spot-findings] [data-action=finding-verify]');
  await submitModal(d.page, 'note', '通过');
  await d.page.waitForFunction(() => {
    const s = [...document.querySelectorAll('[data-testid=spot-findings] [data-finding-state]')].map(e => e.dataset.findingState);
    return s.length === 2 && s.every(x => x === 'closed');
  }, null, { timeout: 10000 });
  await d.page.goto(srv.base + '/#/spotchecks');
  await d.page.waitForSelector('[data-testid=spot-counts]');
  await shot(d.page, 'spotcheck-campaigns');
  const closed = db.scalar(`SET dw.scope = 'system'; SELECT count(*) FROM spot_findings f LEFT JOIN hazards h ON h.id = f.hazard_id
    WHERE f.check_id = ${checkId} AND (f.status = 'closed' OR h.status = 'closed')`);
  assert(closed === '2', 'closed findings ' + closed);
  await d.context.close(); await e.context.close();
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_district_spot_check_records_a_hazard_and_a_request, test_enterprise_rectifies_and_district_verifies,
  test_no_script_errors];
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
