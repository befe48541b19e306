// Drives Debian's chromium through playwright-core for one page scenario;
// called by crates/wz/tests/web.rs with a JSON config file. Any console
// error, failed request or unexpected error status fails the run.
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const require = createRequire(join(process.env.WZ_PLAYWRIGHT_DIR, 'node_modules') + '/');
const { chromium } = require('playwright-core');

const problems = [];
let allowedStatus = new Set();
const fail = (m) => { throw new Error(m); };
const check = (cond, m) => { if (!cond) fail(m); };
mkdirSync(cfg.artefacts, { recursive: true });

const args = ['--no-sandbox', '--use-fake-ui-for-media-stream'];
if (cfg.y4m) args.push('--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${cfg.y4m}`);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
const context = await browser.newContext({
  viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true, locale: 'zh-CN',
});
if (cfg.y4m) await context.grantPermissions(['camera']);
const page = await context.newPage();
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  const status = m.text().match(/status of (\d+)/);
  if (status && allowedStatus.has(Number(status[1]))) return;
  problems.push(`console error: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on('response', (r) => {
  if (r.status() >= 400 && !allowedStatus.has(r.status())) problems.push(`HTTP ${r.status()} from ${new URL(r.url()).pathname}`);
});

async function shots(name) {
  await page.screenshot({ path: join(cfg.artefacts, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(cfg.artefacts, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function kiosk() {
  await page.goto(cfg.url);
  await page.waitForFunction(() => document.getElementById('place').textContent.length > 0);
  check((await page.textContent('#place')) === cfg.place_zh, `kiosk place: ${await page.textContent('#place')}`);
  await shots(`${cfg.name}-scan`);
  await page.waitForSelector('#verdict:not([hidden])', { timeout: 150000 });
  const verdict = async () => ({
    cls: await page.getAttribute('#verdict-box', 'class'),
    reason: await page.textContent('#verdict-reason'),
    attrs: await page.$$eval('[data-attr]', (els) => els.map((e) => e.dataset.attr).sort()),
    pseudonym: await page.$$eval('[data-pseudonym]', (els) => els.length),
  });
  const v = await verdict();
  console.log(`first verdict: ${JSON.stringify(v)}`);
  check(v.cls.includes('pass'), `expected a pass, got ${v.reason}`);
  check(JSON.stringify(v.attrs) === JSON.stringify([...cfg.attributes].sort()), `attributes shown ${v.attrs}, entitled ${cfg.attributes}`);
  check(v.pseudonym === 1, 'pseudonym shown');
  await shots(`${cfg.name}-verdict`);
  await page.click('#lang');
  check((await page.textContent('#verdict-title')) === 'Verified', 'English verdict title');
  await shots(`${cfg.name}-verdict-en`);
  await page.click('#lang');
  if (cfg.replay) {
    // The same phone screen comes round again in the camera: a replayed QR.
    await page.click('#next');
    await page.waitForSelector('#verdict:not([hidden])', { timeout: 60000 });
    const r = await verdict();
    console.log(`replay verdict: ${JSON.stringify(r)}`);
    check(r.cls.includes('fail'), 'the replayed QR must be refused');
    check(r.reason.includes('qr_replayed'), `refusal reason: ${r.reason}`);
    check(r.attrs.length === 0 && r.pseudonym === 0, 'a refusal shows no attributes');
    await shots(`${cfg.name}-replay`);
  }
}

async function wallet() {
  await page.clock.install();
  await page.goto(cfg.url);
  await page.waitForSelector('#unlock-panel:not([hidden])');
  allowedStatus = new Set([401]);
  await page.fill('#unlock-pin', 'not-the-pin');
  await page.click('#unlock-button');
  await page.waitForFunction(() => document.getElementById('unlock-error').textContent.includes('还可尝试'));
  await shots('wallet-wrong-pin');
  allowedStatus = new Set();
  await page.fill('#unlock-pin', cfg.pin);
  await page.click('#unlock-button');
  await page.waitForSelector('#card-panel:not([hidden])');
  await page.waitForSelector('#qr svg');
  check(!(await page.getAttribute('#idcard', 'class')).includes('light'), 'an upgraded credential is shown in colour');
  check(/\*/.test(await page.textContent('#card-name')), 'the name is masked');
  const first = await page.innerHTML('#qr');
  const serial = await page.getAttribute('#qr', 'data-serial');
  check((await page.textContent('#countdown')).includes('秒后更新'), 'countdown shown');
  await shots('wallet-card');
  // A minute later (the page's clock moved, not slept) the QR is new.
  await page.clock.fastForward(61000);
  await page.waitForFunction((s) => document.getElementById('qr').dataset.serial !== s, serial, { timeout: 20000 });
  check((await page.innerHTML('#qr')) !== first, 'a new QR after 60 s');
  // Who verified me: the kiosk checks made before this run.
  await page.click('#history-refresh');
  await page.waitForSelector('#history tr[data-result]');
  const results = await page.$$eval('#history tr[data-result]', (els) => els.map((e) => e.dataset.result));
  console.log(`history: ${results.join(' ')}`);
  for (const want of cfg.history) check(results.includes(want), `history lacks ${want}`);
  await shots('wallet-history');
}

async function consolePage() {
  await page.goto(cfg.url);
  allowedStatus = new Set([401]);
  await page.fill('#token', 'wrong-token');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
  check((await page.textContent('#error')).includes('令牌'), 'a wrong token is refused');
  allowedStatus = new Set();
  await page.fill('#token', cfg.token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForSelector(`#import-file option[value="${cfg.import_file}"]`, { state: 'attached' });
  await page.selectOption('#import-file', cfg.import_file);
  await page.click('#import-start');
  await page.waitForSelector('#import-counts[data-finished="true"]', { timeout: 120000 });
  const counts = await page.textContent('#import-counts');
  console.log(`import: ${counts}`);
  check(counts.includes('导入完成'), `import did not finish: ${counts}`);
  check(Number(await page.getAttribute('#import-progress', 'value')) > 0, 'progress moved');
  await shots('console-import');
  await page.click('[data-tab=creds]');
  await page.fill('#lookup-id', cfg.lookup_id);
  await page.click('#lookup-form button[type=submit]');
  await page.waitForSelector('#creds tr[data-status]');
  const statuses = await page.$$eval('#creds tr[data-status]', (els) => els.map((e) => e.dataset.status));
  console.log(`credentials: ${statuses.join(' ')}`);
  check(statuses.includes('active') && statuses.includes('superseded'), 'lookup shows the active and the superseded credential');
  await shots('console-credentials');
  await page.click('[data-tab=audit]');
  await page.waitForSelector('#audit tr');
  await page.click('#audit-verify');
  await page.waitForSelector('#audit-status[data-intact]');
  check((await page.getAttribute('#audit-status', 'data-intact')) === 'true', 'the audit chain verifies');
  await shots('console-audit');
  await page.click('[data-tab=rps]');
  await page.waitForSelector('#rps tr[data-rp="hotel-demo"]');
  await page.click('[data-tab=metrics]');
  await page.waitForSelector('#codes tr[data-code="pass"]', { timeout: 20000 });
  await page.waitForTimeout(2500);
  await shots('console-metrics');
}

try {
  await ({ kiosk, wallet, console: consolePage }[cfg.kind])();
  if (problems.length) fail(problems.join('\n'));
  console.log(`${cfg.name}: ok`);
} catch (e) {
  await page.screenshot({ path: join(cfg.artefacts, `${cfg.name}-failure.png`), fullPage: true }).catch(() => {});
  console.error(`${cfg.name}: ${e.message}\n${problems.join('\n')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
