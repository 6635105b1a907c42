// End-to-end tests: a real runbook server (built from this tree) on a temp
// data dir and a free port, driven through Debian's Chromium with
// playwright-core. Every step saves a screenshot to e2e/screenshots/.
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
// playwright-core is a dependency of the web app: one lockfile for both.
const { chromium } = createRequire(join(root, 'web', 'package.json'))('playwright-core');
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'runbook-e2e-'));
const bin = join(work, 'runbook');
execFileSync('go', ['build', '-o', bin, './cmd/runbook'], { cwd: root, stdio: 'inherit' });

const server = spawn(bin, ['server', '--data-dir', join(work, 'data'), '--addr', '127.0.0.1:0', '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
const base = await new Promise((resolve, reject) => {
  let buf = '';
  const on = (d) => {
    buf += d;
    const m = buf.match(/"addr":"(http:\/\/[^"]+)"/);
    if (m) resolve(m[1]);
  };
  server.stdout.on('data', on);
  server.stderr.on('data', on);
  server.on('exit', (c) => reject(new Error(`runbook server exited (${c}) before listening:\n${buf}`)));
  setTimeout(() => reject(new Error(`runbook server did not report its address:\n${buf}`)), 30_000);
});

// playwright-core gives each launch a fresh temporary profile (it refuses
// --user-data-dir here), which is what a fresh --user-data-dir would be.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const results = [];
const figures = {};
async function test(name, fn, viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ viewport, baseURL: base });
  const page = await ctx.newPage();
  let n = 0;
  const shot = (what) => page.screenshot({ path: join(shots, `${name}-${++n}-${what}.png`) });
  const t0 = Date.now();
  try {
    await fn(page, shot);
    results.push(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    await shot('failure').catch(() => {});
    results.push(`FAIL ${name}: ${e.stack ?? e}`);
  } finally {
    await ctx.close();
  }
}

let users = 0;
async function signUp(page, shot) {
  const u = `e2e-${process.pid}-${++users}`;
  await page.goto('/signup');
  await page.getByLabel('Email').fill(`${u}@example.com`);
  await page.getByLabel('Username').fill(u);
  await page.getByLabel('Password').fill('correct horse battery');
  if (shot) await shot('signup');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
}

async function startRun(page, yaml) {
  await page.getByRole('link', { name: 'New run' }).first().click();
  await page.getByLabel('Workflow text').fill(yaml);
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
}

const node = (page, name) => page.locator(`.node[data-step="${name}"]`);
const T = { timeout: 20_000 };

await test('signup', async (page, shot) => {
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in to Runbook' }).waitFor();
  await shot('login');
  await signUp(page, shot);
  await page.getByText('No runs yet').waitFor();
  await page.getByText(/Projects .* are not available yet/).waitFor();
  await shot('empty-runs');
  // The session survives a reload (refresh token), and sign-out ends it.
  await page.reload();
  await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Runbook' }).waitFor();
});

await test('diamond', async (page, shot) => {
  await signUp(page);
  await startRun(page, `name: Diamond
steps:
  - { name: A, command: 'sleep 1; echo A done' }
  - { name: B, command: 'sleep 2; echo B done' }
  - { name: C, depends_on: [A], command: echo C }
  - { name: D, depends_on: [A, B], command: echo D }
  - { name: E, depends_on: [B], command: echo E }
`);
  await node(page, 'B').and(page.locator('[data-status="running"]')).waitFor(T);
  await shot('running');
  for (const s of ['A', 'B', 'C', 'D', 'E']) await node(page, s).and(page.locator('[data-status="succeeded"]')).waitFor(T);
  await page.locator('.toolbar .badge.st-succeeded').first().waitFor();
  await page.getByText(/critical path: B → (D|E)/).waitFor();
  await shot('succeeded');
  await page.goto('/'); // the list shows it
  await page.locator('table.runs .badge.st-succeeded').waitFor();
  await shot('runs-list');
});

await test('live-log', async (page, shot) => {
  await signUp(page);
  await startRun(page, `steps:
  - name: printer
    command: 'for i in $(seq 1 40); do echo "line $i"; printf "\\033[31mred $i\\033[0m\\n" >&2; sleep 0.1; done'
`);
  await node(page, 'printer').click();
  await page.locator('.log-row', { hasText: 'line 3' }).first().waitFor(T);
  const midway = await page.locator('.log-bar').innerText();
  assert.match(midway, /live|reconnecting/, 'the log follows while the step prints');
  await shot('printing');
  await page.locator('.toolbar .badge.st-succeeded').first().waitFor(T);
  await page.getByText('80 lines').waitFor(T);
  assert.ok(!(await page.getByText('missing').count()), 'no line is missing');
  const red = page.locator('.log-row.stderr', { hasText: 'red 40' });
  await red.waitFor(T);
  const color = await red.locator('.lt span').first().evaluate((el) => getComputedStyle(el).color);
  assert.match(color, /rgb\((2\d\d|1\d\d), \d+, \d+\)/, `stderr line is red, got ${color}`);
  await page.getByLabel('Search the log').fill('line 2');
  await page.getByText(/\/11$/).waitFor(); // line 2, line 20..29
  await shot('search');
  await page.goto(page.url().replace(/#.*/, '') + '#printer:L5');
  await page.locator('.log-row.target', { hasText: /red 3|line 3/ }).waitFor(T);
  await shot('deep-link');
});

await test('cancel', async (page, shot) => {
  await signUp(page);
  await startRun(page, `steps:
  - { name: long, command: 'echo started; sleep 60' }
  - { name: after, depends_on: [long], command: echo never }
`);
  await node(page, 'long').and(page.locator('[data-status="running"]')).waitFor(T);
  await shot('running');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('.toolbar .badge.st-cancelled').first().waitFor(T);
  await page.getByRole('button', { name: 'Re-run', exact: true }).waitFor();
  await shot('cancelled');
});

await test('failed', async (page, shot) => {
  await signUp(page);
  await startRun(page, `steps:
  - { name: ok, command: echo fine }
  - { name: broken, depends_on: [ok], command: 'echo "something broke" >&2; exit 3' }
`);
  await node(page, 'broken').and(page.locator('[data-status="failed"]')).waitFor(T);
  const border = await node(page, 'broken').evaluate((el) => getComputedStyle(el).borderTopColor);
  assert.match(border, /rgb\((2\d\d|1\d\d), \d+, \d+\)/, `failed node is red, got ${border}`);
  await node(page, 'broken').click();
  await page.getByText('exit 3').waitFor(T);
  await page.locator('.log-row.stderr', { hasText: 'something broke' }).waitFor(T);
  await shot('failed');
  // A workflow with errors shows them with their line numbers.
  await startRun(page, 'steps:\n  - name: x\n    comand: true\n').catch(() => {});
  await page.locator('.problems li').first().waitFor(T);
  assert.match(await page.locator('.problems').innerText(), /line \d+/);
  await shot('invalid-workflow');
});

await test('phone', async (page, shot) => {
  await signUp(page);
  await startRun(page, 'steps:\n  - { name: one, command: echo hi }\n  - { name: two, depends_on: [one], command: echo there }\n');
  await node(page, 'two').and(page.locator('[data-status="succeeded"]')).waitFor(T);
  await node(page, 'one').click();
  await page.locator('.log-row', { hasText: 'hi' }).waitFor(T);
  await shot('run');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px at phone width`);
}, { width: 390, height: 844 });

await test('measure-200-steps', async (page, shot) => {
  await signUp(page);
  let y = 'steps:\n';
  for (let i = 0; i < 200; i++) y += `  - { name: s${i}, command: 'true'${i >= 10 ? `, depends_on: [s${i % 10}]` : ''} }\n`;
  await startRun(page, y);
  await page.locator('.toolbar .badge.st-succeeded').first().waitFor({ timeout: 120_000 });
  const url = page.url();
  await page.goto('about:blank');
  await page.goto(url);
  await page.waitForFunction(() => performance.getEntriesByName('run-rendered').length > 0, null, T);
  figures['run page with 200 steps: first render (ms since navigation)'] = Math.round(await page.evaluate(() => performance.getEntriesByName('run-rendered')[0].startTime));
  await shot('200-steps');
});

await test('measure-1M-lines', async (page, shot) => {
  await signUp(page);
  await startRun(page, 'steps:\n  - { name: big, command: seq 1 1000000 }\n');
  await node(page, 'big').and(page.locator('[data-status="succeeded"]')).waitFor({ timeout: 120_000 });
  const t0 = await page.evaluate(() => performance.now());
  await node(page, 'big').click();
  await page.locator('.log-row', { hasText: /^\d+\s*1$/ }).first().waitFor(T);
  const t1 = await page.evaluate(() => performance.now());
  figures['1,000,000-line log: click to first lines (ms)'] = Math.round(t1 - t0);
  await page.getByText('1,000,000 lines').waitFor({ timeout: 120_000 });
  figures['1,000,000-line log: all lines loaded (ms)'] = Math.round((await page.evaluate(() => performance.now())) - t0);
  // Scrolling: jump to the end and check the last line is drawn.
  const s0 = await page.evaluate(() => performance.now());
  await page.locator('.log-box').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.locator('.log-row', { hasText: '1000000' }).first().waitFor(T);
  figures['1,000,000-line log: jump to end, drawn (ms)'] = Math.round((await page.evaluate(() => performance.now())) - s0);
  figures['1,000,000-line log: DOM rows'] = await page.locator('.log-row').count();
  await shot('1M-lines-end');
});

await browser.close();
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
rmSync(work, { recursive: true, force: true });
console.log(results.join('\n'));
for (const [k, v] of Object.entries(figures)) console.log(`figure: ${k}: ${v}`);
process.exit(results.some((r) => r.startsWith('FAIL')) ? 1 : 0);
