// Browser test of the 数据上报 page (upward forwarding, issue 18): a city
// administrator creates a target in the form (credentials typed once, never
// shown again), sees the reconciliation and the refused requests of it and
// asks for a resend; a district staff account has no such page.  Own server
// and city; prints "N passed, N failed".
import { Database, Server, makeCity, launch, loginPage } from './harness.mjs';

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [['city.admin', 'city_admin', '--region', '310000'], ['baoshan.staff', 'district_staff', '--region', '310113']])
    db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db);
  browser = await launch();
}

async function test_admin_creates_target_sees_report_and_resends() {
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', undefined, errors);
  await page.click('[data-nav=forward]');
  await page.waitForSelector('[data-page=forward] [data-action=new-target]');
  await page.click('[data-action=new-target]');
  await page.fill('.modal input[name=name]', '省平台');
  await page.fill('.modal input[name=url]', 'http://127.0.0.1:9/rabbitmqfcsb');
  await page.fill('.modal input[name=des_key]', 'Abcd1234');
  await page.fill('.modal input[name=enterprise_ids]', String(ents[0].id));
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('[data-testid=forward-targets] [data-target="省平台"]');
  const id = db.scalar("SELECT id FROM forward_targets WHERE name = '省平台'");
  assert(id, 'the target was stored');
  assert(db.scalar(`SELECT position(convert_to('Abcd1234', 'UTF8') IN sealed_keys) FROM forward_targets WHERE id = ${id}`) === '0',
    'the DES key is stored in the clear');
  // what a forwarder would have recorded: a day's counts and one refused request
  db.sql(`INSERT INTO forward_daily (target_id, day, kind, sent, acked, refused, requests)
            VALUES (${id}, (now() AT TIME ZONE 'UTC')::date, 'readings', 5, 3, 2, 2);
          INSERT INTO forward_dead_letters (target_id, enterprise_id, kind, items, payload, http_status, upstream_code, reason)
            VALUES (${id}, ${ents[0].id}, 'readings', 2, '{}', 200, 400, 'HTTP 200, code 400: 测点未注册');`);
  await page.click('[data-target="省平台"]');
  await page.waitForSelector('[data-testid=forward-totals]');
  const totals = await page.textContent('[data-testid=forward-totals]');
  assert(totals.includes('已发送 5') && totals.includes('被拒 2'), 'totals: ' + totals);
  assert((await page.textContent('[data-testid=forward-dead]')).includes('测点未注册'), 'the reason is shown');
  assert(!(await page.content()).includes('Abcd1234'), 'the key is shown on the page');
  await page.click('[data-testid=forward-dead] [data-action=resend]');
  await page.waitForFunction(() => { const d = document.querySelector('[data-testid=forward-dead]'); return d && d.textContent.includes('等待重发'); }, null, { timeout: 10000 });
  assert(db.scalar(`SELECT resend_requested_at IS NOT NULL FROM forward_dead_letters WHERE target_id = ${id}`) === 't', 'resend requested');
  await context.close();
}

// the code mapping: added in the form (validated: a code that names nothing of
// the caller's scope is refused with the server's message), shown, removed
async function test_admin_maps_codes() {
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', undefined, errors);
  await page.click('[data-nav=forward]');
  await page.click('[data-target="省平台"]');
  await page.waitForSelector('[data-action=map-code]');
  const point = db.scalar(`SELECT code FROM points WHERE enterprise_id = ${ents[0].id} ORDER BY id LIMIT 1`);
  await page.click('[data-action=map-code]');
  await page.fill('.modal input[name=local_code]', 'NO-SUCH-POINT');
  await page.fill('.modal input[name=upstream_code]', 'UP-P1');
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('.modal .err');
  assert((await page.textContent('.modal .err')).length > 0, 'the refusal is shown');
  // that refusal (422) is the one console error this test provokes
  for (let i = errors.length - 1; i >= 0; i--) if (/^city\.admin: console: .*status of 422/.test(errors[i])) errors.splice(i, 1);
  await page.fill('.modal input[name=local_code]', point);
  await page.click('.modal button[type=submit]');
  await page.waitForFunction(() => !document.querySelector('.modal') && document.body.textContent.includes('UP-P1'), null, { timeout: 10000 });
  assert(db.scalar(`SELECT upstream_code FROM forward_codes WHERE object = 'point' AND local_code = '${point}'`) === 'UP-P1', 'mapping stored');
  assert(db.scalar(`SELECT count(*) FROM forward_codes WHERE local_code = 'NO-SUCH-POINT'`) === '0', 'the bad code was stored');
  await page.click('tr:has-text("UP-P1") button');
  await page.waitForFunction(() => !document.body.textContent.includes('UP-P1'), null, { timeout: 10000 });
  assert(db.scalar(`SELECT count(*) FROM forward_codes`) === '0', 'mapping removed');
  await context.close();
}

async function test_district_staff_has_no_forwarding() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.staff', undefined, errors);
  assert(!(await page.$('[data-nav=forward]')), 'district staff sees the forwarding entry');
  await page.goto(srv.base + '/#/forward');
  await page.waitForSelector('[data-page=forward] .empty');
  assert(!(await page.$('[data-action=new-target]')), 'district staff may create targets');
  await context.close();
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

const tests = [test_admin_creates_target_sees_report_and_resends, test_admin_maps_codes, test_district_staff_has_no_forwarding, test_no_script_errors];
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
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
