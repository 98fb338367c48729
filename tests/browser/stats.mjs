// Browser tests of the statistics and reports pages (issue 15), headless in Debian's Chromium:
// the statistics page shows the figures GET /api/v1/statistics answers and links them to their
// lists, its table exports with the active filters, a monthly report downloads as XLSX and
// prints as a page, and the enterprise list is no longer cut at 500.  Own database, city,
// accounts and server; prints one line per test and "N passed, N failed".
import { readFileSync } from 'node:fs';
import { Database, Server, makeCity, launch, loginPage, PW } from './harness.mjs';

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];
const CITY_MS = 8 * 3600e3;

// the month before this one in the city's calendar, as YYYY-MM
function lastMonth() {
  const d = new Date(Date.now() + CITY_MS);
  d.setUTCDate(0);
  return d.toISOString().slice(0, 7);
}

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [['city.admin', 'city_admin', '--region', '310000'],
    ['baoshan.admin', 'district_admin', '--region', '310113']]) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  // alarms last month: 3 in 宝山区 (levels 1, 1, 2), 1 in 嘉定区
  const m = lastMonth();
  const rows = [[ents[0], 'high', 1, 3], [ents[0], 'high_high', 2, 4], [ents[1], 'high', 1, 5], [ents[2], 'high', 0, 6]];
  db.sql("SET dw.scope = 'system';\n" + rows.map(([e, kind, lv, day]) => `INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level,
      raised_at, cleared_at, ack_deadline, handle_deadline) VALUES (${e.id}, ${e.points.hopper_temp.id}, 'rule', 'limit', '${kind}',
      ${lv}, ${lv}, '${m}-0${day} 10:00+08', '${m}-0${day} 11:00+08', '${m}-0${day} 10:30+08', '${m}-0${day} 12:00+08');`).join('\n'));
  // 520 more enterprises in 宝山区: the enterprise list used to stop at 500
  db.sql(`SET dw.scope = 'system'; INSERT INTO enterprises (code, uscc, name, district_id, street_id, industry_code)
    SELECT '3101139' || lpad(g::text, 5, '0'), '91310113MA1G' || lpad(g::text, 6, '0'), '批量测试企业' || g, d.id, s.id, 'C2021'
      FROM generate_series(100, 619) g, regions d, regions s WHERE d.code = '310113' AND s.code = '310113103'`);
  // and a risk grade for each: the ranking the maps colour by has more than one page of 500
  db.sql(`SET dw.scope = 'system';
    INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, grade_by_score, override, rules, inputs, trigger)
      SELECT id, now(), 'test', 10, 0, 0, 0, 0, 'blue', 'blue', false, '[]', '{}', 'manual' FROM enterprises WHERE name LIKE '批量测试企业%';
    INSERT INTO enterprise_risk (enterprise_id, score_id, computed_at, r, grade, override, model_version)
      SELECT enterprise_id, id, computed_at, r, grade, override, model_version FROM risk_scores WHERE model_version = 'test'
      ON CONFLICT DO NOTHING`);
  // registered long before the months asked about (onboarding at a past moment counts the
  // enterprises registered by then)
  db.sql("SET dw.scope = 'system'; UPDATE enterprises SET created_at = now() - interval '800 days'");
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 300, DUSTWATCH_REPORTS_MONTHLY: 1 });
  browser = await launch();
}

async function test_statistics_page_shows_the_api_figures() {
  const tok = await srv.token('city.admin');
  const q = `period=month&date=${lastMonth()}-01&group=district`;
  const api = (await srv.api('GET', '/api/v1/statistics?' + q, undefined, tok)).body;
  assert(api.totals.alarms.total === 4 && api.totals.enterprises === 523, 'fixture: ' + JSON.stringify(api.totals).slice(0, 200));
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.goto(srv.base + '/#/stats?' + q);
  await page.waitForSelector('[data-testid=stats-table]');
  const tile = async k => (await page.textContent(`[data-stat=${k}] .v`)).trim();
  assert((await tile('enterprises')).startsWith(String(api.totals.enterprises)), 'enterprises tile: ' + await tile('enterprises'));
  assert((await tile('alarms')).startsWith(String(api.totals.alarms.total)), 'alarms tile: ' + await tile('alarms'));
  assert((await tile('warnings')).startsWith(String(api.totals.warnings.total)), 'warnings tile');
  // hazards (found in the period, open now) link to the hazard list
  assert((await tile('hazards')).startsWith(String(api.totals.hazards.open)), 'hazards tile: ' + await tile('hazards'));
  assert((await page.getAttribute('[data-stat=hazards] [data-drill=hazards]', 'href')).startsWith('#/hazards?'), 'hazards link');
  const cells = await page.$$eval('[data-testid=stats-table] [data-cell=alarms]', as => as.map(a => +a.textContent));
  assert(JSON.stringify(cells) === JSON.stringify(api.rows.map(r => r.alarms.total)), `rows ${cells} vs ${api.rows.map(r => r.alarms.total)}`);
  // a period that ended was counted whole; one still running says up to when (computed_to)
  assert(!/统计截至|counted at/.test(await tile('period')), 'last month: ' + await tile('period'));
  // drill-down: the number opens the alarm list with the period and the row's district
  const href = await page.getAttribute('[data-stat=alarms] [data-drill=alarms]', 'href');
  assert(href.startsWith('#/alarms?') && href.includes('from='), 'drill-down link: ' + href);
  // the export carries the active filters
  await page.goto(srv.base + '/#/stats?' + q + '&street=310114102');
  await page.waitForSelector('[data-action=export-stats-csv]');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export-stats-csv]')]);
  const text = readFileSync(await dl.path(), 'utf8');
  assert(text.includes('street=310114102') && text.includes('合计'), 'export lacks its filters: ' + text.slice(0, 200));
  const lines = text.trim().split(/\r?\n/);
  assert(lines[2].split(',')[2] === '1' && lines[2].split(',')[9] === '1', 'filtered totals: ' + lines[2]);
  await page.goto(srv.base + '/#/stats?period=month&group=district');
  await page.waitForFunction(() => /统计截至|counted at/.test(document.querySelector('[data-stat=period] .v')?.textContent || ''),
    null, { timeout: 10000 });
  await context.close();
}

async function test_drill_down_lists_what_the_number_counts() {
  // a district's alarms of last month: the list page keeps the period and the district (it
  // showed the whole city's open alarms), and names them
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.goto(srv.base + `/#/stats?period=month&date=${lastMonth()}-01&group=district`);
  await page.waitForSelector('[data-testid=stats-table]');
  const cell = page.locator('[data-testid=stats-table] tr', { has: page.locator('[data-row="310113"]') }).locator('[data-cell=alarms]');
  assert((await cell.textContent()).trim() === '3', 'baoshan alarms: ' + await cell.textContent());
  await cell.click();
  await page.waitForSelector('[data-testid=alarm-list] table');
  const ids = await page.$$eval('[data-testid=alarm-list] [data-alarm-id]', rs => rs.length);
  assert(ids === 3, 'alarm rows: ' + ids + ' at ' + page.url());
  for (const k of ['from', 'to', 'district'])
    assert(await page.$(`[data-testid=drill-filters] [data-drill-filter=${k}]`), 'drill filter not named: ' + k);
  // the enterprise list of one district (a row's enterprises link)
  await page.goto(srv.base + '/#/enterprises?district=310114');
  await page.waitForSelector('[data-testid=enterprise-table]');
  const names = await page.$$eval('[data-testid=enterprise-table] [data-enterprise-link]', as => as.map(a => a.textContent));
  assert(names.length === 1, 'enterprises of 310114: ' + names.length);
  await context.close();
}

async function test_monthly_report_downloads_and_prints() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(srv.base + '/#/reports');
  // the worker generates last month's reports shortly after start
  for (let i = 0; i < 40 && !(await page.$('[data-action=download-report]')); i++) {
    await page.waitForTimeout(500);
    await page.goto(srv.base + '/#/reports?r=' + i);
  }
  await page.waitForSelector('[data-action=download-report]');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=download-report]')]);
  const bytes = readFileSync(await dl.path());
  assert(bytes.length > 1000 && bytes.subarray(0, 2).toString() === 'PK', 'not an XLSX: ' + bytes.length);
  // on demand, then the printable page
  await page.goto(srv.base + '/#/reports');
  await page.waitForSelector('[data-action=generate-report]');
  await page.click('[data-action=generate-report]');
  await page.waitForSelector('[data-testid=report-title]');
  const title = await page.textContent('[data-testid=report-title]');
  assert(title.includes('宝山区') && title.includes(lastMonth()), 'report title: ' + title);
  // of the month's end, read back from the hourly rollups (a fresh database's reach its start)
  const asOf = await page.textContent('[data-testid=state-as-of]');
  const end = (d => { d.setUTCDate(1); return d.toISOString().slice(0, 10); })(new Date(Date.now() + CITY_MS));
  assert(/状态截至|state as of/.test(asOf) && asOf.includes(end + ' 00:00') && /按小时汇总数据回溯|read back/.test(asOf),
    'onboarding not dated at the month end: ' + asOf);
  const summary = await page.textContent('[data-testid=report-summary]');
  assert(summary.includes('523') || summary.includes('522'), 'summary lacks the enterprises: ' + summary.slice(0, 200));
  await page.emulateMedia({ media: 'print' });
  assert(!(await page.isVisible('nav.sidenav')) && !(await page.isVisible('[data-action=print-report]')), 'navigation printed');
  await context.close();
}

async function test_enterprise_list_goes_past_500() {
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.goto(srv.base + '/#/enterprises?page=27');
  await page.waitForSelector('[data-testid=enterprise-table]');
  const pager = await page.textContent('.pager');
  assert(pager.includes('523') && pager.includes('27 / 27'), 'pager: ' + pager);
  const names = await page.$$eval('[data-testid=enterprise-table] [data-enterprise-link]', as => as.map(a => a.textContent));
  assert(names.length === 3, 'last page rows: ' + names.length);
  await context.close();
}

async function test_wall_reads_every_enterprise_and_grade() {
  // the wall display's map: every enterprise and every grade, page after page (it read the
  // first 500 of each, and the rest of the city stayed off the map or grey)
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.waitForLoadState('networkidle'); // the landing page's own reads done
  const urls = [];
  page.on('request', r => urls.push(decodeURIComponent(r.url())));
  await page.goto(srv.base + '/#/wall');
  await page.waitForFunction(() => +(document.querySelector('[data-testid=wall-updated]')?.dataset.refreshes || 0) >= 1);
  const asked = re => urls.filter(u => re.test(u)).map(u => u.replace(/^.*\/api\//, '/api/'));
  assert(asked(/\/api\/v1\/enterprises\?limit=500&offset=500$/).length >= 1, 'enterprises pages: ' + asked(/\/api\/v1\/enterprises\?/));
  assert(asked(/\/api\/v1\/risk\/ranking\?limit=500&offset=500$/).length >= 1, 'ranking pages: ' + asked(/risk\/ranking/));
  const tok = await srv.token('city.admin');
  const rk = (await srv.api('GET', '/api/v1/risk/ranking?limit=500&offset=500', undefined, tok)).body;
  assert(rk.total >= 520 && rk.items.length === rk.total - 500, 'ranking: ' + JSON.stringify({ total: rk.total, n: rk.items.length }));
  await context.close();
}

async function test_enterprise_ranking_pages() {
  // by enterprise, ranked by alarms: ents[0] (2 alarms) first, 100 rows a page, 523 in 6 pages
  const tok = await srv.token('city.admin');
  const q = `period=month&date=${lastMonth()}-01&group=enterprise&sort=alarms`;
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.goto(srv.base + '/#/stats?' + q);
  await page.waitForSelector('[data-testid=stats-pager]');
  const cells = async () => page.$$eval('[data-testid=stats-table] [data-cell=alarms]', as => as.map(a => +a.textContent));
  const codes = async () => page.$$eval('[data-testid=stats-table] [data-row]', as => as.map(a => a.dataset.row));
  const first = await cells();
  assert(first.length === 100 && first[0] === 2 && first[1] === 1 && first[2] === 1 && first[3] === 0, 'ranked: ' + first.slice(0, 5));
  assert((await codes())[0] === ents[0].code, 'first row: ' + (await codes())[0]);
  assert((await page.textContent('[data-testid=stats-pager]')).includes('523') &&
    (await page.textContent('[data-testid=stats-pager]')).includes('1 / 6'), 'pager: ' + await page.textContent('[data-testid=stats-pager]'));
  await page.click('[data-action=stats-next]');
  await page.waitForFunction(() => document.querySelector('[data-testid=stats-pager]')?.textContent.includes('2 / 6'));
  const api = (await srv.api('GET', `/api/v1/statistics?${q}&limit=100&offset=100`, undefined, tok)).body;
  assert(JSON.stringify(await codes()) === JSON.stringify(api.rows.map(r => r.code)), 'page 2 is not the API\'s second page');
  await page.goto(srv.base + '/#/stats?' + q + '&page=6');
  await page.waitForFunction(() => document.querySelector('[data-testid=stats-pager]')?.textContent.includes('6 / 6'));
  assert((await cells()).length === 23, 'last page rows: ' + (await cells()).length);
  await context.close();
}

// the month before last in the city's calendar, as YYYY-MM
function monthBeforeLast() {
  const d = new Date(Date.now() + CITY_MS);
  d.setUTCDate(0);
  d.setUTCDate(0);
  return d.toISOString().slice(0, 7);
}

async function test_statistics_page_shows_kinds_onboarding_conformance_and_quality() {
  // what the API had and the page did not show: points online, alarms by kind, the laggards,
  // the non-conforming systems, the interruption records with their cause, the rankings
  // (ents[0] of wood dust: in the 2024 cohort as well as the 2025 one)
  db.sql(`SET dw.scope = 'system'; UPDATE enterprises SET dust_kinds = '{wood}' WHERE id = ${ents[0].id}`);
  const tok = await srv.token('city.admin');
  const q = `period=month&date=${lastMonth()}-01&group=district`;
  const api = (await srv.api('GET', '/api/v1/statistics?' + q, undefined, tok)).body;
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.goto(srv.base + '/#/stats?' + q);
  await page.waitForSelector('[data-testid=stats-by-kind]');
  assert((await page.textContent('[data-stat=points_online] .v')).trim().startsWith(String(api.totals.points_online)), 'points online tile');
  const kinds = await page.$$eval('[data-testid=stats-by-kind] [data-kind-count]', as => as.map(a => [a.dataset.kindCount, +a.textContent]));
  assert(JSON.stringify(kinds) === JSON.stringify([['high', 3], ['high_high', 1]]), 'by kind: ' + JSON.stringify(kinds));
  assert(api.totals.alarms.by_kind.high === 3, 'API by kind: ' + JSON.stringify(api.totals.alarms.by_kind));
  await page.click('[data-testid=stats-by-kind] [data-kind-count=high]');
  await page.waitForSelector('[data-testid=alarm-list] table');
  assert(await page.$$eval('[data-testid=alarm-list] [data-alarm-id]', rs => rs.length) === 3, 'high alarms listed at ' + page.url());

  // onboarding: the laggards of every cohort, 20 shown and the rest counted
  await page.goto(srv.base + '/#/stats?' + q);
  await page.waitForSelector('[data-testid=laggards]');
  const onb = (await srv.api('GET', '/api/v1/onboarding', undefined, tok)).body;
  const lag = onb.cohorts.reduce((n, c) => n + c.streets.reduce((m, x) => m + x.laggards.length, 0), 0);
  assert(lag > 20, 'fixture laggards: ' + lag);
  assert((await page.textContent('[data-testid=laggards] h4')).includes(`(${lag})`), 'laggards head: ' + await page.textContent('[data-testid=laggards] h4'));
  assert(await page.$(`[data-testid=laggards] [data-more="${lag}"]`), 'laggards: no "more" note');
  // per street, the last cohort (应接尽接) first, another one chosen
  const streetRows = async () => page.$$eval('[data-testid=onboarding-streets] tr', rs => rs.slice(1).map(r =>
    [r.querySelector('[data-street]').dataset.street, +r.children[1].textContent, +r.children[5].textContent]));
  const want = c => c.streets.map(x => [x.code || '', x.in_scope, x.laggards.length]);
  const last = onb.cohorts[onb.cohorts.length - 1];
  assert(JSON.stringify(await streetRows()) === JSON.stringify(want(last)) && want(last).length === 2,
    'streets of the last cohort: ' + JSON.stringify(await streetRows()));
  const other = onb.cohorts.find(c => c.streets.length && c.code !== last.code);
  assert(other && want(other).length === 1 && want(other)[0][1] === 1, 'fixture cohorts: ' + JSON.stringify(onb.cohorts.map(want)));
  await page.selectOption('[data-action=onboarding-cohort]', other.code);
  assert(JSON.stringify(await streetRows()) === JSON.stringify(want(other)), 'streets of ' + other.code + ': ' + JSON.stringify(await streetRows()));
  // conformance: makeCity's systems have no air-lock point
  const conf = (await srv.api('GET', '/api/v1/onboarding/conformance', undefined, tok)).body;
  assert(conf.nonconforming.length === 3, 'fixture conformance: ' + JSON.stringify(conf).slice(0, 300));
  const miss = await page.$$eval('[data-testid=conformance-table] [data-missing]', as => as.map(a => [a.dataset.missing, a.textContent]));
  assert(miss.length === 3 && miss.every(([codes, text]) => codes === conf.nonconforming[0].missing.join(',') && text.length > 0 && !text.includes('_')),
    'missing kinds shown: ' + JSON.stringify(miss));
  assert((await page.textContent('[data-testid=conformance-table]')).includes('干式'), 'the system type by its label');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export-conformance]')]);
  const xlsx = readFileSync(await dl.path());
  assert(xlsx.subarray(0, 2).toString() === 'PK', 'conformance export is not an XLSX');

  // data quality: a handled interruption two months ago, its cause filed
  const m = monthBeforeLast();
  const e = ents[0];
  const aid = +db.scalar(`SET dw.scope = 'system'; INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level,
      raised_at, cleared_at, ack_deadline, handle_deadline, state, acked_at, handled_at, cause_category, measures)
    VALUES (${e.id}, ${e.points.hopper_temp.id}, 'rule', 'offline', 'offline', 1, 1, '${m}-10 08:00+08', '${m}-10 14:30+08',
      '${m}-10 09:00+08', '${m}-11 08:00+08', 'handled', '${m}-10 08:20+08', '${m}-10 15:00+08', 'sensor_fault', '更换温度变送器') RETURNING id`);
  const q2 = `period=month&date=${m}-01&group=district`;
  const dq = (await srv.api('GET', '/api/v1/data-quality?limit=20&' + q2, undefined, tok)).body;
  assert(dq.interruptions.total === 1 && dq.interruptions.items[0].id === aid, 'API records: ' + JSON.stringify(dq.interruptions));
  await page.goto(srv.base + '/#/stats?' + q2);
  await page.waitForSelector('[data-testid=interruption-records]');
  const cause = page.locator('[data-testid=interruption-records] [data-cause]');
  assert(await cause.count() === 1 && (await cause.getAttribute('data-cause')) === 'sensor_fault', 'record cause');
  assert((await cause.getAttribute('href')) === '#/alarms/' + aid, 'the cause opens its alarm: ' + await cause.getAttribute('href'));
  assert((await page.textContent('[data-testid=interruption-records]')).includes('6.5'), 'record hours: ' + await page.textContent('[data-testid=interruption-records]'));
  // the online rankings, lowest first, as the API ranks them
  const ranked = await page.$$eval('[data-testid=online-ranking] [data-rank-enterprise]', as => as.map(a => a.dataset.rankEnterprise));
  assert(ranked.length === 20 && JSON.stringify(ranked) === JSON.stringify(dq.online.enterprises.slice(0, 20).map(r => r.code)),
    'enterprise ranking: ' + ranked.slice(0, 3) + ' vs ' + dq.online.enterprises.slice(0, 3).map(r => r.code));
  const streets = await page.$$eval('[data-testid=street-ranking] [data-rank-street]', as => as.map(a => a.dataset.rankStreet));
  assert(JSON.stringify(streets) === JSON.stringify(dq.online.streets.map(r => r.code || '')), 'street ranking: ' + streets);
  // the page's street filter narrows the onboarding table too (it showed the whole scope)
  await page.goto(srv.base + '/#/stats?' + q + '&street=310114102');
  await page.waitForSelector('[data-testid=onboarding-streets]');
  const nx = (await srv.api('GET', '/api/v1/onboarding?street=310114102', undefined, tok)).body;
  const inScope = await page.$$eval('[data-testid=onboarding-table] tr', rs => rs.slice(1).map(r => +r.children[2].textContent));
  assert(JSON.stringify(inScope) === JSON.stringify(nx.cohorts.map(c => c.in_scope)) && inScope[inScope.length - 1] === 1,
    'onboarding of 南翔镇: ' + inScope);
  // onboarding at the end of last month's last day, read back from the hourly rollups: every
  // point of ents[1] sent data in its last hour (and has sent nothing since)
  const lastDay = (d => { d.setUTCDate(0); return d.toISOString().slice(0, 10); })(new Date(Date.now() + CITY_MS));
  db.sql(`SET dw.scope = 'system'; SELECT dw_ensure_rollup_partition('hour', '${lastMonth()}-01');
    INSERT INTO rollup_hour (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
      SELECT id, '${lastDay} 23:00+08', enterprise_id, 6, 1, 2, 9 FROM points WHERE enterprise_id = ${ents[1].id} AND enabled`);
  const atApi = (await srv.api('GET', '/api/v1/onboarding?at=' + lastDay, undefined, tok)).body;
  const nowApi = (await srv.api('GET', '/api/v1/onboarding', undefined, tok)).body;
  assert(atApi.cohorts.at(-1).connected === nowApi.cohorts.at(-1).connected + 1, 'connected then and now: ' +
    atApi.cohorts.at(-1).connected + ' / ' + nowApi.cohorts.at(-1).connected);
  await page.goto(srv.base + '/#/stats?' + q + '&onb_at=' + lastDay);
  await page.waitForSelector('[data-testid=onboarding-as-of]');
  assert(/按小时汇总数据回溯|read back/.test(await page.textContent('[data-testid=onboarding-as-of]')),
    'onboarding not dated: ' + await page.textContent('[data-testid=onboarding-as-of]'));
  const shown = await page.$$eval('[data-testid=onboarding-table] tr', rs => rs.slice(1).map(r => [+r.children[2].textContent, +r.children[3].textContent]));
  assert(JSON.stringify(shown) === JSON.stringify(atApi.cohorts.map(c => [c.in_scope, c.connected])),
    'onboarding at ' + lastDay + ': ' + JSON.stringify(shown));
  assert((await page.getAttribute('[data-action=export-laggards]', 'href')).includes('at=' + lastDay), 'the export asks at the same day');
  await context.close();
}

async function test_custom_range_is_shown_in_whole_hours() {
  // the API widens a custom range to whole hours; the page says which hours it counted
  const m = lastMonth();
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors);
  await page.goto(srv.base + `/#/stats?period=custom&from=${m}-03T10:20&to=${m}-05T14:30&group=district`);
  await page.waitForSelector('[data-testid=stats-table]');
  const range = await page.textContent('[data-stat=period]');
  assert(range.includes('10:00') && range.includes('15:00') && !range.includes('10:20'), 'custom range tile: ' + range);
  assert(await page.getAttribute('input[name=from]', 'step') === '3600', 'the inputs pick whole hours');
  // the 3rd 10:00 to the 5th 15:00: the alarms of the 3rd, 4th and 5th at 10:00 (the 3rd's from
  // the start of its hour)
  const tok = await srv.token('city.admin');
  const api = (await srv.api('GET', `/api/v1/statistics?period=custom&from=${m}-03T10:20:00%2B08:00&to=${m}-05T14:30:00%2B08:00`, undefined, tok)).body;
  assert(Date.parse(api.from) === Date.parse(`${m}-03T10:00:00+08:00`) && Date.parse(api.to) === Date.parse(`${m}-05T15:00:00+08:00`),
    'widened range: ' + api.from + ' .. ' + api.to);
  assert(api.totals.alarms.total === 3, 'widened range counts: ' + JSON.stringify(api.totals.alarms));
  await context.close();
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

const tests = [test_statistics_page_shows_the_api_figures, test_drill_down_lists_what_the_number_counts,
  test_monthly_report_downloads_and_prints,
  test_enterprise_list_goes_past_500, test_wall_reads_every_enterprise_and_grade, test_enterprise_ranking_pages,
  test_statistics_page_shows_kinds_onboarding_conformance_and_quality, test_custom_range_is_shown_in_whole_hours,
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
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
