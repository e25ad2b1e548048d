// The console end to end in headless Chromium (see console_test.py for the set-up). Each step
// asserts what the operator must see; axe-core checks every screen (no serious or critical
// violation); a listener fails the run on any Content-Security-Policy violation.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const { KM_BASE: base, KM_ADMIN: adminToken, KM_AUDITOR: auditorToken, KM_OPS: opsToken, KM_OUT: out } = process.env;
const failures = [];
const expect = (cond, what) => { if (!cond) { failures.push(what); console.error('FAIL: ' + what); } };
const step = (s) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${s}`);
const started = Date.now();

async function api(method, p, token, body) {
  const headers = { Authorization: 'Bearer ' + token };
  if (body) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// ---- the headers, before any browser
step('security headers');
const REQUIRED_CSP = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "connect-src 'self'"];
for (const p of ['/ui/', '/ui/app.js', '/ui/app.css', '/ui/no-such-file.js']) {
  const r = await fetch(base + p);
  const csp = r.headers.get('content-security-policy') || '';
  for (const d of REQUIRED_CSP) expect(csp.includes(d), `${p}: CSP lacks ${d}: ${csp}`);
  expect(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), `${p}: CSP allows unsafe-*`);
  expect(r.headers.get('x-frame-options') === 'DENY', `${p}: X-Frame-Options`);
  expect(r.headers.get('referrer-policy') === 'no-referrer', `${p}: Referrer-Policy`);
  expect(r.headers.get('x-content-type-options') === 'nosniff', `${p}: nosniff`);
  expect(r.status === (p.includes('no-such') ? 404 : 200), `${p}: status ${r.status}`);
}
expect((await fetch(base + '/ui/app.js')).headers.get('content-type').startsWith('text/javascript'), 'app.js content type');
const redirect = await fetch(base + '/ui', { redirect: 'manual' });
expect(redirect.status === 308 && redirect.headers.get('location') === '/ui/', `/ui redirects to /ui/ (${redirect.status})`);
const etag = (await fetch(base + '/ui/app.js')).headers.get('etag');
expect((await fetch(base + '/ui/app.js', { headers: { 'If-None-Match': etag } })).status === 304, 'app.js revalidates with 304');
const who = await api('GET', '/v1/whoami', auditorToken);
expect(who.status === 200 && who.json.role === 'auditor' && who.json.name === 'console-auditor', 'whoami: ' + who.text);

// ---- the browser
let browser;
try {
  browser = await puppeteer.launch({
    executablePath: process.env.KM_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
} catch (e) {
  console.error('SKIP: Chromium cannot start: ' + e.message);
  process.exit(77);
}

let page;
const cspViolations = [];
const pageErrors = [];
async function newPage() {
  page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  page.setDefaultTimeout(30000);  // generous: ctest runs other suites beside this one
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
}
async function checkCsp(where) {
  const v = await page.evaluate(() => window.__csp || []);
  expect(v.length === 0 && cspViolations.length === 0, `${where}: CSP violations ${JSON.stringify([...v, ...cspViolations])}`);
}
async function shoot(name) {
  await new Promise((r) => setTimeout(r, 150));
  await page.screenshot({ path: path.join(out, name + '.png'), fullPage: true });
}
async function axe(screen) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.length === 0, `axe on ${screen}: ${JSON.stringify(bad)}`);
  const minor = res.filter((v) => !bad.includes(v));
  if (minor.length) console.log(`  axe ${screen}: minor: ${minor.map((v) => `${v.id}(${v.impact})`).join(', ')}`);
  fs.writeFileSync(path.join(out, `axe-${screen}.json`), JSON.stringify(res, null, 2));
}
const text = () => page.evaluate(() => document.body.innerText);
async function waitText(s, timeout = 30000) {
  await page.waitForFunction((t) => document.body.innerText.includes(t), { timeout }, s);
}
async function clickButton(label, scope = 'body') {
  const ok = await page.evaluate((l, sc) => {
    const b = [...document.querySelector(sc).querySelectorAll('button, a.button')].find((x) => x.textContent.trim().startsWith(l) && !x.disabled);
    if (b) b.click();
    return !!b;
  }, label, scope);
  if (!ok) throw new Error(`no button "${label}" in ${scope}`);
}
async function fill(selector, value) {
  // Cleared as a user would (select all, delete), so the page sees an input event either way.
  await page.focus(selector);
  await page.$eval(selector, (el) => el.select());
  await page.keyboard.press('Backspace');
  if (value) await page.type(selector, value);
}
async function go(hash, selector) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  if (selector) await page.waitForSelector(selector, { timeout: 30000 });
}
async function signIn(token) {
  await page.waitForSelector('input[name=token]');
  await fill('input[name=token]', token);
  await clickButton('Sign in');
  await page.waitForSelector('[data-testid=who]', { timeout: 30000 });
}
const lanes = () => page.$$eval('[data-testid=timeline] g.lane', (g) => g.map((x) => ({ kid: x.dataset.kid, cls: x.getAttribute('class') })));
const activeKid = async () => (await api('GET', '/v1/keysets/shop', adminToken)).json.active_kid;

try {
  await newPage();
  step('sign in as admin');
  await page.goto(base + '/ui/', { waitUntil: 'networkidle0' });
  await shoot('01-sign-in');
  await axe('sign-in');
  await signIn(adminToken);
  const store = await page.evaluate(() => ({ ss: sessionStorage.getItem('keymgr.token'), ls: localStorage.length, cookie: document.cookie, url: location.href }));
  expect(store.ss === adminToken, 'token kept in sessionStorage');
  expect(store.ls === 0 && store.cookie === '' && !store.url.includes(adminToken.slice(5)), 'token nowhere else: ' + JSON.stringify({ ...store, ss: '' }));
  await page.waitForSelector('[data-testid=keysets] tr[data-keyset=default]');
  await shoot('02-keysets');
  await axe('keysets');

  step('create a keyset');
  await fill('input[name=name]', 'shop');
  await fill('input[name=issuer]', 'ftp://shop.example/shop');
  await clickButton('Create keyset');
  await waitText('issuer must be an http(s) URL');  // keymgr's own error message
  expect((await text()).includes('bad_issuer'), 'the error names keymgr\'s error code');
  await fill('input[name=issuer]', base + '/shop');
  await page.select('select[name=alg]', 'ES256');
  await clickButton('Create keyset');
  await page.waitForSelector('[data-testid=timeline] g.lane', { timeout: 30000 });
  const before = await lanes();
  const firstKid = await activeKid();
  expect(before.some((l) => l.kid === firstKid), 'the new keyset timeline shows its signing key');
  await shoot('03-keyset-created');

  step('rotate and see the new key lane');
  await clickButton('Rotate now');
  await page.waitForSelector('[role=dialog] textarea');
  await clickButton('Rotate now', '[role=dialog]');
  await waitText('A reason is required');
  await page.type('[role=dialog] textarea', 'console e2e: scheduled rotation drill');
  await clickButton('Rotate now', '[role=dialog]');
  await page.waitForFunction(() => !document.querySelector('[role=dialog]'), { timeout: 30000 });
  await waitText('Rotation done');
  // A rotation pre-publishes a successor (or, when one is ready, makes it sign): a new lane.
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=timeline] g.lane').length > n, { timeout: 30000 }, before.length);
  const after = await lanes();
  const newLane = after.find((l) => !before.some((b) => b.kid === l.kid));
  expect(newLane && /state-(pre-activation|active)/.test(newLane.cls), 'the new key has its lane: ' + JSON.stringify(after));
  const secondKid = await activeKid();  // the key that signs now
  step('suspend and resume the signing key');
  const suspendKid = await activeKid();
  await clickButton('Suspend', `[data-testid=keys] tr[data-kid="${suspendKid}"]`);
  await page.type('[role=dialog] textarea', 'console e2e: suspend drill');
  await clickButton('Suspend key', '[role=dialog]');
  await page.waitForSelector(`[data-testid=timeline] g.lane.state-suspended[data-kid="${suspendKid}"]`);
  expect((await page.$eval(`[data-testid=timeline] g.lane[data-kid="${suspendKid}"]`, (g) => g.textContent)).includes('suspended'), 'the lane marks the suspension');
  await clickButton('Resume', `[data-testid=keys] tr[data-kid="${suspendKid}"]`);
  await page.type('[role=dialog] textarea', 'console e2e: drill over');
  await clickButton('Resume key', '[role=dialog]');
  await page.waitForSelector(`[data-testid=timeline] g.lane.state-active[data-kid="${suspendKid}"]`);

  step('an issuer token from the API tokens screen');
  await go('#/tokens', '[data-testid=tokens]');
  await fill('input[name=name]', 'shop-app');
  await page.select('select[name=role]', 'issuer');
  await fill('input[name=keysets]', 'shop');
  await clickButton('Create token');
  await page.waitForSelector('[data-testid=new-token] input[name=secret]');
  const issuerToken = await page.$eval('[data-testid=new-token] input[name=secret]', (i) => i.value);
  expect(issuerToken.startsWith('km_'), 'the secret is shown once');
  await page.waitForSelector('[data-testid=tokens] tr[data-token=shop-app]');
  await clickButton('I have copied it');
  await fill('input[name=name]', 'temp-auditor');
  await page.select('select[name=role]', 'auditor');
  await fill('input[name=keysets]', '');
  await clickButton('Create token');
  await page.waitForSelector('[data-testid=tokens] tr[data-token=temp-auditor]');
  const tempToken = await page.$eval('[data-testid=new-token] input[name=secret]', (i) => i.value);
  await shoot('04-api-tokens');
  await axe('api-tokens');
  await clickButton('Revoke', '[data-testid=tokens] tr[data-token=temp-auditor]');
  await clickButton('Revoke token', '[role=dialog]');
  await page.waitForFunction(() => document.querySelector('[data-testid=tokens] tr[data-token=temp-auditor]').innerText.includes('revoked'), { timeout: 30000 });
  expect((await api('GET', '/v1/keysets', tempToken)).status === 401, 'a revoked token is refused');

  step('sign tokens and see the volume');
  for (let i = 0; i < 5; i++) {
    const r = await api('POST', '/v1/keysets/shop/sign', issuerToken, { claims: { sub: 'user' + i }, ttl: 600 });
    expect(r.status === 200 && r.json.kid === secondKid, `sign ${i}: ${r.status} ${r.text}`);
  }
  await go('#/keysets', '[data-testid=keysets] tr[data-keyset=shop]');
  await page.waitForFunction(() => document.querySelector('[data-testid=keysets] tr[data-keyset=shop] td.num')?.textContent === '5', { timeout: 30000 });
  await go('#/keysets/shop', '[data-testid=timeline]');
  await page.waitForSelector(`table.volume tr[data-kid="${secondKid}"] [data-testid=volume-count]`, { timeout: 30000 });
  const vol = await page.$eval(`table.volume tr[data-kid="${secondKid}"] [data-testid=volume-count]`, (td) => td.textContent);
  expect(vol === '5', 'volume of the signing key: ' + vol);
  await page.waitForFunction((k) => document.querySelector(`[data-testid=keys] tr[data-kid="${k}"] [data-testid=key-signatures]`)?.textContent === '5', { timeout: 30000 }, secondKid);
  expect((await page.$$(`[data-testid=timeline] g.vol-row[data-kid="${secondKid}"] rect.bar`)).length >= 1, 'the timeline has hourly bars for the signing key');
  await shoot('05-keyset-timeline');
  await axe('keyset-detail');
  const jwksText = await text();
  expect(jwksText.includes('JWKS as verifiers see it') && jwksText.includes(secondKid), 'the JWKS is shown');

  step('compromise the signing key and see the affected tokens');
  await go('#/compromise/shop', 'select[name=kid]');
  await page.waitForFunction((k) => !!document.querySelector(`select[name=kid] option[value="${k}"]`), {}, secondKid);
  await page.select('select[name=kid]', secondKid);
  await fill('input[name=reason]', 'console e2e: key found in a public paste');
  await page.click('input[name=confirm]');
  await axe('compromise-form');
  await clickButton('Mark');
  await page.waitForSelector('[data-testid=compromise-outcome] [data-testid=affected-count]', { timeout: 30000 });
  const affected = await page.$eval('[data-testid=affected-count]', (e) => e.textContent);
  expect(affected === '5', 'affected tokens: ' + affected);
  const outcome = await page.$eval('[data-testid=compromise-outcome]', (e) => e.innerText);
  expect(outcome.includes('was removed from the JWKS'), 'the key left the JWKS: ' + outcome);
  expect(/Successor \S+ signs/.test(outcome), 'a successor signs: ' + outcome);
  expect(outcome.includes('console-admin#'), 'the ledger names the operator: ' + outcome);
  expect((await page.$$('[data-testid=affected] tbody tr')).length === 5, 'the affected tokens are listed');
  await shoot('06-compromise-response');
  await axe('compromise-outcome');
  const jwks = await api('GET', '/shop/.well-known/jwks.json', adminToken);
  expect(!jwks.text.includes(secondKid), 'the API agrees: the key is not in the JWKS');
  // The timeline after the compromise (the README's picture).
  await go('#/keysets/shop', '[data-testid=timeline]');
  await page.waitForFunction((k) => !!document.querySelector(`[data-testid=timeline] g.lane.state-compromised[data-kid="${k}"]`), { timeout: 30000 }, secondKid);
  await page.waitForSelector('table.volume');
  await page.evaluate(() => window.scrollTo(0, 0));
  await new Promise((r) => setTimeout(r, 150));
  await page.screenshot({ path: path.join(out, 'console-timeline.png') });
  await page.click('input[name=span][value=hour]');
  await new Promise((r) => setTimeout(r, 150));
  await page.screenshot({ path: path.join(out, '05b-timeline-one-hour.png') });
  await axe('keyset-detail-zoomed');

  step('the ledger');
  await go('#/ledger', '[data-testid=ledger] tbody tr');
  await fill('input[name=keyset]', 'shop');
  await fill('input[name=kind]', 'sign');
  await clickButton('Apply filters');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=ledger] tbody tr').length === 5, { timeout: 30000 });
  // A signed checkpoint covers the entries within checkpoint_interval (2 s here).
  const seq = await page.$eval('[data-testid=ledger] tbody tr:first-child th', (th) => th.textContent.trim());
  for (let i = 0; i < 50 && (await api('GET', '/v1/audit/proof?seq=' + seq, adminToken)).status !== 200; i++) await new Promise((r) => setTimeout(r, 200));
  await page.click('[data-testid=ledger] tbody tr:first-child button.link');
  await page.waitForSelector('[data-testid=entry-detail]');
  await page.waitForFunction(() => /Leaf \d+ of a tree|No proof yet/.test(document.querySelector('[data-testid=entry-detail]').innerText), { timeout: 30000 });
  const detail = await page.$eval('[data-testid=entry-detail]', (e) => e.innerText);
  expect(detail.includes('c2sp.org/tlog-proof@v1'), 'the entry shows its inclusion proof: ' + detail.slice(0, 400));
  await clickButton('Verify ledger');
  await page.waitForFunction(() => /Ledger verified|FAILED|error/i.test(document.querySelector('[data-testid=verify-result]')?.innerText || ''), { timeout: 20000 });
  const ver = await page.$eval('[data-testid=verify-result]', (e) => e.innerText);
  expect(ver.includes('Ledger verified'), 'verify ledger: ' + ver);
  await shoot('07-ledger');
  await axe('ledger');

  step('an alert, acknowledged');
  // Signing refused by policy 10 times (an issuer not bound to the keyset) raises a warning.
  for (let i = 0; i < 10; i++) await api('POST', '/v1/keysets/default/sign', issuerToken, { claims: { sub: 'probe' } });
  let alertsOpen = [];
  for (let i = 0; i < 50 && alertsOpen.length === 0; i++) {
    alertsOpen = (await api('GET', '/v1/alerts?state=open', adminToken)).json.alerts;
    if (alertsOpen.length === 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect(alertsOpen.length > 0, 'refusals raise an alert');
  await go('#/alerts', 'select[name=state]');
  await page.waitForSelector('[data-testid=alerts] tbody tr', { timeout: 30000 });
  await shoot('08-alerts');
  await axe('alerts');
  await clickButton('Acknowledge', '[data-testid=alerts]');
  await page.type('[role=dialog] textarea', 'console e2e: expected, a test probe');
  await clickButton('Acknowledge alert', '[role=dialog]');
  await page.waitForFunction(() => !document.querySelector('[data-testid=alerts] tbody tr'), { timeout: 30000 });
  const acked = (await api('GET', '/v1/alerts?state=acknowledged', adminToken)).json.alerts;
  expect(acked.length > 0 && acked[0].acknowledgement.by.startsWith('console-admin#'), 'the acknowledgement names the operator: ' + JSON.stringify(acked[0] || null));
  await checkCsp('admin session');

  step('sign out');
  await clickButton('Sign out');
  await page.waitForSelector('input[name=token]');
  expect(await page.evaluate(() => sessionStorage.getItem('keymgr.token')) === null, 'signed out: the token is gone');

  step('an auditor sees no action and the API refuses it anyway');
  await signIn(auditorToken);
  await go('#/keysets/shop', '[data-testid=timeline]');
  await page.waitForSelector('table.volume');
  const buttons = await page.$$eval('main button, main a.button', (b) => b.map((x) => x.textContent.trim()));
  expect(!buttons.some((b) => /Rotate|Compromise|Suspend|Resume|Extend|Create|Revoke|Acknowledge/.test(b)), 'auditor sees no action: ' + buttons);
  const nav = await page.$eval('header nav', (n) => n.innerText);
  expect(nav.includes('Ledger') && !nav.includes('API tokens') && !nav.includes('Compromise'), 'auditor navigation: ' + nav);
  await shoot('09-auditor-keyset');
  await axe('auditor-keyset');
  const refused = await page.evaluate(async (t) => {
    const r = await fetch('/v1/keysets/shop/rotate', { method: 'POST', headers: { Authorization: 'Bearer ' + t, 'Content-Type': 'application/json' }, body: '{"reason":"x"}' });
    return r.status;
  }, auditorToken);
  expect(refused === 403, 'the API refuses the auditor a rotation: ' + refused);
  expect((await api('POST', '/v1/tokens', auditorToken, { name: 'x', role: 'admin' })).status === 403, 'the API refuses the auditor a token');

  step('ops act, see the signing volume, but do not read the ledger');
  await clickButton('Sign out');
  await signIn(opsToken);
  await go('#/keysets/shop', '[data-testid=timeline]');
  await page.waitForSelector('[data-testid=keys] button');
  const opsNav = await page.$eval('header nav', (n) => n.innerText);
  expect(opsNav.includes('Compromise') && opsNav.includes('Alerts') && !opsNav.includes('Ledger') && !opsNav.includes('API tokens'), 'ops navigation: ' + opsNav);
  // The signing volume comes from /usage, which ops may read: the same numbers the admin saw.
  await page.waitForSelector(`table.volume tr[data-kid="${secondKid}"] [data-testid=volume-count]`, { timeout: 30000 });
  const opsVol = await page.$eval(`table.volume tr[data-kid="${secondKid}"] [data-testid=volume-count]`, (td) => td.textContent);
  expect(opsVol === '5', 'ops see the volume of the compromised key: ' + opsVol);
  const opsSigs = await page.$eval(`[data-testid=keys] tr[data-kid="${secondKid}"] [data-testid=key-signatures]`, (e) => e.textContent);
  expect(opsSigs === '5', 'ops see the key\'s signature count equal to what was signed: ' + opsSigs);
  expect((await page.$$(`[data-testid=timeline] g.vol-row[data-kid="${secondKid}"] rect.bar`)).length >= 1, 'ops see the hourly bars');
  expect(!(await text()).includes('needs an auditor or admin token'), 'ops are not told the volume is missing');
  await axe('ops-keyset');
  await go('#/keysets', '[data-testid=keysets] tr[data-keyset=shop]');
  await page.waitForFunction(() => document.querySelector('[data-testid=keysets] tr[data-keyset=shop] td.num')?.textContent === '5', { timeout: 30000 });

  step('ops compromise a key and see the affected tokens');
  const thirdKid = await activeKid();
  for (let i = 0; i < 3; i++) {
    const r = await api('POST', '/v1/keysets/shop/sign', issuerToken, { claims: { sub: 'later' + i }, ttl: 600 });
    expect(r.status === 200 && r.json.kid === thirdKid, `sign after the compromise ${i}: ${r.status} ${r.text}`);
  }
  await go('#/compromise/shop', 'select[name=kid]');
  await page.waitForFunction((k) => !!document.querySelector(`select[name=kid] option[value="${k}"]`), {}, thirdKid);
  await page.select('select[name=kid]', thirdKid);
  await fill('input[name=reason]', 'console e2e: ops drill, second compromise');
  await page.click('input[name=confirm]');
  await clickButton('Mark');
  await page.waitForSelector('[data-testid=compromise-outcome] [data-testid=affected-count]', { timeout: 30000 });
  const opsAffected = await page.$eval('[data-testid=affected-count]', (e) => e.textContent);
  expect(opsAffected === '3', 'ops see the affected tokens: ' + opsAffected);
  expect((await page.$$('[data-testid=affected] tbody tr')).length === 3, 'ops see the affected tokens listed');
  const opsOutcome = await page.$eval('[data-testid=compromise-outcome]', (e) => e.innerText);
  expect(opsOutcome.includes('Export CSV') && opsOutcome.includes('Export NDJSON'), 'ops can export the affected tokens: ' + opsOutcome);
  expect(!/needs an auditor/.test(opsOutcome), 'no "needs an auditor" message for ops: ' + opsOutcome);
  await shoot('10-ops-compromise-response');
  await axe('ops-compromise-outcome');
  await go('#/keysets/shop', '[data-testid=timeline]');
  await page.waitForFunction((k) => document.querySelector(`[data-testid=keys] tr[data-kid="${k}"] [data-testid=key-signatures]`)?.textContent === '3', { timeout: 30000 }, thirdKid);

  step('an issuer sees only its keysets');
  await clickButton('Sign out');
  await signIn(issuerToken);
  await page.waitForSelector('[data-testid=keysets] tr[data-keyset=shop]');
  expect(!(await page.$('[data-testid=keysets] tr[data-keyset=default]')), 'the issuer does not see other keysets');
  await page.waitForFunction(() => document.querySelector('[data-testid=keysets] tr[data-keyset=shop] td.num')?.textContent === '8', { timeout: 30000 });
  await axe('issuer-keysets');
  await go('#/keysets/shop', '[data-testid=timeline]');
  await page.waitForSelector(`table.volume tr[data-kid="${secondKid}"] [data-testid=volume-count]`, { timeout: 30000 });
  const issuerVol = await page.$eval(`table.volume tr[data-kid="${secondKid}"] [data-testid=volume-count]`, (td) => td.textContent);
  expect(issuerVol === '5', 'the issuer sees the volume of its keyset: ' + issuerVol);
  await checkCsp('all sessions');
} catch (e) {
  failures.push('exception: ' + (e.stack || e.message));
  console.error(e);
  try { await shoot('99-failure'); fs.writeFileSync(path.join(out, '99-failure.txt'), await text()); } catch { /* ignore */ }
}
expect(pageErrors.length === 0, 'page errors: ' + JSON.stringify(pageErrors));
await browser.close();
step(failures.length ? `${failures.length} failures` : 'all checks passed');
process.exit(failures.length ? 1 : 0);
