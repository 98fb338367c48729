// Browser test of the 批量导入导出 page (issue 17 item 8), headless in Debian's Chromium: a CSV
// with bad rows uploaded from the page shows the all-or-nothing report (row, line, column,
// code) and stores nothing; the fixed file is imported and its rows appear in the page's
// table; an Excel workbook uploads the same way (the page's own export back unchanged, a
// sheet with a bad row reported by its sheet row, then imported); an enterprise account may
// import its cameras but only export its systems.  Own
// database, city, accounts and server; prints one line per test and "N passed, N failed".
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, loginPage, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });
const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];
const HEAD = '企业编码,摄像头编码,名称,除尘系统编码,安装位置,视频地址,启用';

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [['baoshan.admin', 'district_admin', '--region', '310113'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code]]) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db, {});
  browser = await launch();
}

const cameras = () => +db.scalar("SET dw.scope = 'system'; SELECT count(*) FROM cameras");

async function upload(page, text) {
  await page.setInputFiles('[data-testid=bulk-file]', { name: 'cameras.csv', mimeType: 'text/csv', buffer: Buffer.from('\ufeff' + text) });
  await page.click('[data-action=bulk-upload]');
}

async function test_bad_file_shows_the_report_and_stores_nothing_then_the_fixed_one_imports() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(srv.base + '/#/bulk?kind=cameras');
  await page.waitForSelector('[data-testid=bulk-table][data-kind=cameras], [data-testid=bulk-rows] .empty');
  const a1 = ents[0].code, a2 = ents[1].code;
  const rows = [`${a1},CAM-01,东门,01,一楼,rtsp://cam.example/1,是`,
    `${a1},CAM-02,西门,,二楼,ftp://cam.example/2,是`, // the table refuses the address
    `${a2},CAM-03,北门,,三楼,,也许`, // the cell check refuses the flag
    `${ents[2].code},CAM-04,南门,,,,是`]; // another district's enterprise
  await upload(page, [HEAD, ...rows].join('\r\n') + '\r\n');
  await page.waitForSelector('[data-testid=bulk-errors]');
  const got = await page.$$eval('[data-testid=bulk-errors] tbody tr', trs => trs.map(tr => [...tr.children].slice(0, 4).map(td => td.textContent.trim()).join('|')));
  assert(JSON.stringify(got) === JSON.stringify(['3|3|视频地址|row_rejected', '4|4|启用|row_invalid', '5|5|企业编码|enterprise_not_in_scope']), 'report: ' + JSON.stringify(got));
  assert((await page.textContent('[data-testid=bulk-refused]')).includes('3'), 'the refusal names the count');
  assert(cameras() === 0, 'a refused file stored cameras');
  await page.screenshot({ path: join(shots, 'bulk-refused.png') });
  // the fixed file: every row stored, the page's table shows them
  rows[1] = rows[1].replace('ftp://', 'rtsp://');
  rows[2] = rows[2].replace('也许', '否');
  await upload(page, [HEAD, ...rows.slice(0, 3)].join('\r\n') + '\r\n');
  await page.waitForSelector('[data-testid=bulk-done]');
  assert((await page.textContent('[data-testid=bulk-done]')).includes('3'), 'created count');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=bulk-table][data-kind=cameras] tbody tr').length === 3, null, { timeout: 10000 });
  const codes = await page.$$eval('[data-testid=bulk-table] tbody tr', trs => trs.map(tr => tr.children[1].textContent));
  assert(JSON.stringify(codes) === '["CAM-01","CAM-02","CAM-03"]', 'rows: ' + codes);
  assert(cameras() === 3, 'stored cameras: ' + cameras());
  // the same file again: nothing changes
  await upload(page, [HEAD, ...rows.slice(0, 3)].join('\r\n') + '\r\n');
  await page.waitForFunction(() => /未变 3|3 unchanged/.test(document.querySelector('[data-testid=bulk-done]')?.textContent || ''), null, { timeout: 10000 });
  await page.screenshot({ path: join(shots, 'bulk-imported.png') });
  await context.close();
}

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
// rows as a workbook written by openpyxl (Debian's python3-openpyxl), as a person's Excel file
function workbook(rows) {
  const py = 'import sys, io, json, base64, openpyxl\nwb = openpyxl.Workbook()\nfor r in json.loads(sys.argv[1]): wb.active.append(r)\n' +
    'o = io.BytesIO(); wb.save(o); print(base64.b64encode(o.getvalue()).decode())';
  return Buffer.from(execFileSync('python3', ['-c', py, JSON.stringify(rows)],
    { env: { ...process.env, PYTHONPATH: '/usr/lib/python3/dist-packages' } }).toString().trim(), 'base64');
}

async function test_excel_workbook_uploads_like_csv() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(srv.base + '/#/bulk?kind=cameras');
  await page.waitForSelector('[data-testid=bulk-table][data-kind=cameras]');
  // the page's own Excel export goes back in unchanged
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export-xlsx]')]);
  const mine = readFileSync(await dl.path());
  assert(mine.subarray(0, 2).toString() === 'PK', 'the export is a workbook');
  const n0 = cameras();
  await page.setInputFiles('[data-testid=bulk-file]', { name: 'cameras.xlsx', mimeType: XLSX, buffer: mine });
  await page.click('[data-action=bulk-upload]');
  await page.waitForFunction(n => new RegExp(`未变 ${n}|${n} unchanged`).test(document.querySelector('[data-testid=bulk-done]')?.textContent || ''), n0, { timeout: 10000 });
  // a workbook someone filled in: a bad flag in sheet row 3 is reported there, nothing stored
  const a1 = ents[0].code;
  const head = HEAD.split(',');
  const rows = [head, [a1, 'CAM-X1', '料仓', null, '三楼', null, true], [a1, 'CAM-X2', '筛分', null, null, null, '大概']];
  await page.setInputFiles('[data-testid=bulk-file]', { name: 'new.xlsx', mimeType: XLSX, buffer: workbook(rows) });
  await page.click('[data-action=bulk-upload]');
  await page.waitForSelector('[data-testid=bulk-errors]');
  const got = await page.$$eval('[data-testid=bulk-errors] tbody tr', trs => trs.map(tr => [...tr.children].slice(0, 4).map(td => td.textContent.trim()).join('|')));
  assert(JSON.stringify(got) === JSON.stringify(['3|3|启用|row_invalid']), 'report: ' + JSON.stringify(got));
  assert(cameras() === n0, 'a refused workbook stored cameras');
  rows[2][6] = '否';
  await page.setInputFiles('[data-testid=bulk-file]', { name: 'new.xlsx', mimeType: XLSX, buffer: workbook(rows) });
  await page.click('[data-action=bulk-upload]');
  await page.waitForFunction(() => /新建 2|2 created/.test(document.querySelector('[data-testid=bulk-done]')?.textContent || ''), null, { timeout: 10000 });
  assert(cameras() === n0 + 2, 'stored cameras: ' + cameras());
  assert(db.scalar("SET dw.scope = 'system'; SELECT enabled FROM cameras WHERE code = 'CAM-X2'") === 'f', 'the flag read');
  // the Excel template is the header alone
  const [tl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=template-xlsx]')]);
  assert(tl.suggestedFilename() === 'cameras_template.xlsx', 'template: ' + tl.suggestedFilename());
  await context.close();
}

async function test_enterprise_imports_cameras_and_only_exports_systems() {
  const { context, page } = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await page.goto(srv.base + '/#/bulk?kind=systems');
  await page.waitForSelector('[data-testid=bulk-table][data-kind=systems]');
  assert(!(await page.$('[data-testid=bulk-file]')), 'an enterprise may not import systems (a risk input)');
  const sys = await page.$$eval('[data-testid=bulk-table] tbody tr', trs => trs.map(tr => tr.children[0].textContent));
  assert(JSON.stringify(sys) === JSON.stringify([ents[0].code]), 'own systems only: ' + sys);
  await page.click('[data-kind=cameras]');
  await page.waitForSelector('[data-testid=bulk-file]');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=template]')]);
  assert(dl.suggestedFilename() === 'cameras_template.csv', 'template file: ' + dl.suggestedFilename());
  await context.close();
}

async function test_no_script_errors() {
  // the refused uploads answer 422 on purpose; anything else is a fault of the page
  const real = errors.filter(e => !/status of 422/.test(e));
  assert(real.length === 0, 'errors in the pages:\n' + real.join('\n'));
}

const tests = [test_bad_file_shows_the_report_and_stores_nothing_then_the_fixed_one_imports,
  test_excel_workbook_uploads_like_csv, test_enterprise_imports_cameras_and_only_exports_systems, test_no_script_errors];
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
