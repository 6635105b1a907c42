// End-to-end tests: a real runbook server (built from this tree) on a temp
// data dir and a free port, driven through Debian's Chromium with
// playwright-core. Every step saves a screenshot to e2e/screenshots/.
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { guard } from './guard.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
// playwright-core is a dependency of the web app: one lockfile for both.
const { chromium } = createRequire(join(root, 'web', 'package.json'))('playwright-core');
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'runbook-e2e-'));
const bin = join(work, 'runbook');
execFileSync('go', ['build', '-o', bin, './cmd/runbook'], { cwd: root, stdio: 'inherit' });

// Unsandboxed: the scaled-follow test's step waits for a gate file the test
// creates outside the step's workspace, which a sandboxed step cannot see.
const server = spawn(bin, ['server', '--data-dir', join(work, 'data'), '--addr', '127.0.0.1:0', '--log-format', 'json', '--unsafe-no-sandbox'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const results = [];
const figures = {};
async function test(name, fn, viewport = { width: 1280, height: 800 }) {
  // E2E_ONLY='runs-live|1M' runs only the tests whose name matches it.
  if (process.env.E2E_ONLY && !new RegExp(process.env.E2E_ONLY).test(name)) return;
  const ctx = await browser.newContext({ viewport, baseURL: base });
  const page = await ctx.newPage();
  const watch = guard(page);
  let n = 0;
  const shot = (what) => page.screenshot({ path: join(shots, `${name}-${++n}-${what}.png`) });
  const t0 = Date.now();
  try {
    await fn(page, shot);
    watch.check();
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
  return u;
}

// submitRun sends a workflow from the New run page; startRun also waits
// for the run's page.
async function submitRun(page, yaml) {
  await page.getByRole('link', { name: 'New run' }).first().click();
  await page.getByLabel('Workflow text').fill(yaml);
  await page.getByRole('button', { name: 'Start run' }).click();
}

async function startRun(page, yaml) {
  await submitRun(page, yaml);
  await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
}

const node = (page, name) => page.locator(`.node[data-step="${name}"]`);
const T = { timeout: 20_000 };

await test('signed-out', async (page, shot) => {
  // Signed out, no page asks for a session it does not have: no failed
  // request, no console error (the guard checks both).
  const api = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) api.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  for (const path of ['/', '/login', '/t/1/runs/1#x:L5', '/signup']) {
    await page.goto(path);
    await page.getByRole('heading', { name: path === '/signup' ? 'Create your account' : 'Sign in to Runbook' }).waitFor();
  }
  assert.ok(!api.includes('POST /api/v1/auth/refresh'), `a signed-out page asked for a refresh: ${api.join(', ')}`);
  // This server has no OAuth login, so the page offers none.
  const said = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/providers'));
  await page.goto('/login');
  await said;
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await page.getByRole('link', { name: /^Sign in with/ }).count(), 0, 'no OAuth button without OAuth');
  await page.axe('sign-in page');
  // The username pattern is a valid regular expression, so the browser checks it.
  await page.goto('/signup');
  const user = page.getByLabel('Username', { exact: true });
  await user.fill('Not_Valid');
  assert.equal(await user.evaluate((el) => el.validity.patternMismatch), true, 'the browser applies the username pattern');
  await page.axe('sign-up page');
  await user.fill('good-name-1');
  assert.equal(await user.evaluate((el) => el.validity.patternMismatch), false, 'a valid username matches the pattern');
  await shot('signup');
});

await test('signup', async (page, shot) => {
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in to Runbook' }).waitFor();
  await shot('login');
  await signUp(page, shot);
  await page.getByText('No runs yet').waitFor();
  await page.getByText(/Runs start on a push to an enabled project/).waitFor();
  await page.axe('empty runs list');
  await shot('empty-runs');
  // The session survives a reload (refresh token), and sign-out ends it.
  await page.reload();
  await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Runbook' }).waitFor();
});

// inNewTab opens link in a new tab of page's browser and waits for line n
// to be shown marked, with nothing going wrong on the way.
async function inNewTab(page, link, n) {
  const tab = await page.context().newPage();
  const w = guard(tab);
  await tab.goto(link);
  await tab.locator(`.log-row.target[data-n="${n}"]`).waitFor(T);
  w.check();
  await tab.close();
}

await test('deep-link-sign-in', async (page, shot) => {
  const u = await signUp(page);
  await startRun(page, "steps:\n  - { name: talk, command: 'seq 1 50' }\n");
  await node(page, 'talk').and(page.locator('[data-status="succeeded"]')).waitFor(T);
  const link = page.url().replace(/#.*/, '') + '#talk:L40';
  // A new tab of the same browser shares the session: no sign-in.
  await inNewTab(page, link, 40);
  // Another browser asks for a sign-in, then shows the page it was asked for.
  const other = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base });
  try {
    const p2 = await other.newPage();
    const w2 = guard(p2);
    await p2.goto(link);
    await p2.getByRole('heading', { name: 'Sign in to Runbook' }).waitFor();
    await p2.getByLabel('Username or email').fill(u);
    await p2.getByLabel('Password').fill('correct horse battery');
    await p2.getByRole('button', { name: 'Sign in' }).click();
    await p2.locator('.log-row.target[data-n="40"]').waitFor(T);
    assert.equal(p2.url(), link, 'the sign-in returned to the deep link');
    await p2.screenshot({ path: join(shots, 'deep-link-sign-in-2-after-sign-in.png') });
    w2.check();
  } finally {
    await other.close();
  }
});

await test('line-number-link', async (page, shot) => {
  await signUp(page);
  await startRun(page, "steps:\n  - { name: count, command: 'seq 1 30' }\n");
  await node(page, 'count').and(page.locator('[data-status="succeeded"]')).waitFor(T);
  await node(page, 'count').click();
  const ln = page.locator('.log-row[data-n="12"] .ln');
  await ln.waitFor(T);
  // The number's own link is the deep link (what "Copy link address" copies).
  const href = await ln.evaluate((a) => a.href);
  assert.equal(href, page.url().replace(/#.*/, '') + '#count:L12');
  await inNewTab(page, href, 12);
  // A plain click marks the line and puts the same link in the address bar.
  // Clicked once the log is complete and line 7 is in view without a
  // scroll: a click that lands while the view snaps to the tail (within
  // two rows of the bottom it follows new lines) can miss its line.
  await page.getByText('30 lines · complete').waitFor(T);
  await page.locator('.log-box').evaluate((el) => { el.scrollTop = 0; });
  await page.locator('.log-row[data-n="7"] .ln').click();
  await page.locator('.log-row.target[data-n="7"]').waitFor(T);
  assert.ok(page.url().endsWith('#count:L7'), page.url());
  await shot('line-7');
});

// A 9-step workflow with two fan-outs, a join and edges that skip ranks.
const NINE = `name: Nine
steps:
  - { name: checkout, command: 'true' }
  - { name: compile, depends_on: [checkout], command: 'true' }
  - { name: lint, depends_on: [checkout], command: 'true' }
  - { name: firehose, depends_on: [checkout], command: 'seq 1 3000' }
  - { name: unit, depends_on: [compile], command: 'true' }
  - { name: integration, depends_on: [compile], command: 'true' }
  - { name: package, depends_on: [unit, integration, lint], command: 'true' }
  - { name: docs, depends_on: [package], command: 'true' }
  - { name: deploy, depends_on: [package, firehose], command: 'true' }
`;

// graphGeometry reads the drawn graph: the box, each node's rectangle, and
// which edges pass under a node they do not join (each edge path sampled
// every few pixels, in screen coordinates).
const graphGeometry = (page) => page.locator('.dag').evaluate((dag) => {
  const rect = (r) => ({ left: r.left, top: r.top, right: r.right, bottom: r.bottom });
  const nodes = [...dag.querySelectorAll('.node')].map((n) => ({ name: n.dataset.step, ...rect(n.getBoundingClientRect()) }));
  const crossings = new Set();
  const edges = [...dag.querySelectorAll('.react-flow__edge')];
  for (const e of edges) {
    const [source, target] = e.getAttribute('data-id').split('->');
    const p = e.querySelector('path.react-flow__edge-path');
    const len = p.getTotalLength();
    const m = p.getScreenCTM();
    for (let d = 0; d <= len; d += 2) {
      const q = p.getPointAtLength(d);
      const x = m.a * q.x + m.c * q.y + m.e;
      const y = m.b * q.x + m.d * q.y + m.f;
      for (const n of nodes) {
        if (n.name !== source && n.name !== target && x > n.left + 1 && x < n.right - 1 && y > n.top + 1 && y < n.bottom - 1) crossings.add(`${source}->${target} passes under ${n.name}`);
      }
    }
  }
  return { box: rect(dag.getBoundingClientRect()), nodes, edges: edges.length, crossings: [...crossings] };
});

for (const [w, h] of [[390, 844], [1440, 900]]) {
  await test(`graph-${w}`, async (page, shot) => {
    await signUp(page);
    await startRun(page, NINE);
    await node(page, 'deploy').and(page.locator('[data-status="succeeded"]')).waitFor(T);
    await page.locator('.dag .react-flow__edge').nth(10).waitFor(T);
    const g = await graphGeometry(page);
    await shot('graph');
    // The whole graph fits its box, at any width.
    assert.equal(g.nodes.length, 9, `${g.nodes.length} of 9 nodes drawn`);
    for (const n of g.nodes) {
      assert.ok(n.left >= g.box.left - 1 && n.right <= g.box.right + 1 && n.top >= g.box.top - 1 && n.bottom <= g.box.bottom + 1,
        `${n.name} (${JSON.stringify(n)}) is not inside the graph box ${JSON.stringify(g.box)}`);
    }
    // Edges go around the nodes they do not join.
    assert.equal(g.edges, 11);
    assert.deepEqual(g.crossings, [], 'no edge passes under a node it does not join');
  }, { width: w, height: h });
}

await test('graph-room', async (page, shot) => {
  await signUp(page);
  await startRun(page, NINE);
  await node(page, 'deploy').and(page.locator('[data-status="succeeded"]')).waitFor(T);
  await node(page, 'firehose').click();
  await page.locator('.log-row[data-n="3000"]').waitFor(T);
  // The box is sized to the graph: no wide empty band above or below it.
  const g = await graphGeometry(page);
  const top = Math.min(...g.nodes.map((n) => n.top));
  const bottom = Math.max(...g.nodes.map((n) => n.bottom));
  assert.ok(top - g.box.top <= 20 && g.box.bottom - bottom <= 20, `empty space in the graph box: ${top - g.box.top} px above, ${g.box.bottom - bottom} px below`);
  const logTop = async () => (await page.locator('.log-box').boundingBox()).y;
  const shown = await logTop();
  figures['1440x900, 9 steps: the log starts at (px)'] = Math.round(shown);
  await shot('log-room');
  // Hidden, the log moves up, and stays so after a reload.
  await page.getByRole('button', { name: 'Hide graph' }).click();
  const hidden = await logTop();
  assert.ok(hidden < shown - 150, `hiding the graph moved the log from ${shown} to ${hidden}`);
  await page.reload();
  await page.locator('.log-row[data-n="3000"]').waitFor(T);
  assert.equal(await page.locator('.dag').count(), 0, 'the graph stays hidden after a reload');
  await shot('graph-hidden');
  await page.getByRole('button', { name: 'Show graph' }).click();
  await page.locator('.dag').waitFor();
  // The reader's height (here by keyboard on the resize bar) is kept too.
  const before = (await page.locator('.dag').boundingBox()).height;
  await page.getByRole('separator', { name: 'Graph height' }).focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.reload();
  await page.locator('.dag .node').first().waitFor(T);
  const after = (await page.locator('.dag').boundingBox()).height;
  assert.ok(Math.abs(after - (before + 80)) <= 1, `the chosen height ${before + 80} was kept (${after})`);
}, { width: 1440, height: 900 });

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
  await page.axe('run page');
  await shot('succeeded');
  await page.goto('/'); // the list shows it
  await page.locator('table.runs .badge.st-succeeded').waitFor();
  await page.axe('runs list');
  await shot('runs-list');
});

await test('runs-live', async (page, shot) => {
  const streams = [];
  page.on('response', (r) => { if (/\/api\/v1\/tenants\/\d+\/events$/.test(r.url())) streams.push(r); });
  const u = await signUp(page);
  await page.getByText('No runs yet').waitFor();
  // A run started elsewhere (the API, as another client): this list shows
  // it and its end without a reload, sooner than the 15 s fallback read.
  const login = await (await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ login: u, password: 'correct horse battery' }) })).json();
  const tenant = page.url().match(/\/t\/(\d+)\//)[1];
  const created = await fetch(`${base}/api/v1/tenants/${tenant}/runs`, { method: 'POST', headers: { Authorization: `Bearer ${login.access_token}`, 'Content-Type': 'application/yaml' }, body: "steps:\n  - { name: slow, command: 'sleep 2' }\n" });
  assert.equal(created.status, 201, 'the API started a run');
  const row = page.locator('table.runs tbody tr');
  await row.locator('.badge.st-running, .badge.st-queued').first().waitFor({ timeout: 10_000 });
  await shot('live-running');
  await row.locator('.badge.st-succeeded').first().waitFor({ timeout: 12_000 });
  await shot('live-succeeded');
  assert.ok(streams.length >= 1 && streams[0].status() === 200 && /text\/event-stream/.test(streams[0].headers()['content-type']), 'the list follows the tenant stream');
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

await test('log-features', async (page, shot) => {
  await signUp(page);
  await startRun(page, `steps:
  - name: sections
    command: 'echo before; echo "::group::Install deps"; for i in $(seq 1 50); do echo "dep $i"; done; echo "::endgroup::"; echo oops >&2; echo after'
`);
  await node(page, 'sections').and(page.locator('[data-status="succeeded"]')).waitFor(T);
  await node(page, 'sections').click();
  await page.getByText('55 lines').waitFor(T);
  // A section starts collapsed: its header says what it hides.
  const head = page.getByRole('button', { name: /Install deps/ });
  await head.waitFor(T);
  assert.equal(await head.getAttribute('aria-expanded'), 'false');
  // 50 lines and the end marker (stdout and stderr may interleave: maybe one more).
  assert.match(await head.innerText(), /Install deps \((51|52) lines\)/);
  assert.equal(await page.locator('.log-row', { hasText: 'dep 3' }).count(), 0, 'a collapsed section hides its lines');
  await page.locator('.log-row', { hasText: 'after' }).waitFor(T);
  await shot('collapsed');
  await head.click();
  await page.locator('.log-row', { hasText: 'dep 3' }).first().waitFor(T);
  await page.axe('log with an open section');
  await shot('expanded');
  // stderr is said, not only coloured. The open section pushed the last
  // lines below the box: scroll to them (they are drawn only in view).
  await page.locator('.log-box').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  const oops = page.locator('.log-row.stderr', { hasText: 'oops' });
  await oops.waitFor(T);
  assert.equal(await oops.locator('.sr-only').innerText(), 'stderr:');
  // Timestamps: off, then on (and kept after a reload).
  assert.equal(await page.locator('.log-row .ts').count(), 0);
  await page.locator('.log-box').evaluate((el) => { el.scrollTop = 0; });
  await page.getByRole('button', { name: 'Timestamps' }).click();
  assert.match(await page.locator('.log-row[data-n="1"] .ts').innerText(), /^\d\d:\d\d:\d\d\.\d{3}$/);
  await shot('timestamps');
  // A deep link into a collapsed section opens it at the line.
  await page.goto(page.url().replace(/#.*/, '') + '#sections:L30');
  await page.locator('.log-row.target[data-n="30"]', { hasText: /dep 2[78]/ }).waitFor(T);
  assert.equal(await page.getByRole('button', { name: 'Timestamps' }).getAttribute('aria-pressed'), 'true', 'the timestamps choice is kept');
  await page.locator('.log-row[data-n="1"] .ts').waitFor(T);
  await shot('deep-link-in-section');
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
  // The step that never began says so, not "cancelled".
  await node(page, 'after').locator('.node-meta', { hasText: 'not started' }).waitFor(T);
  await node(page, 'after').click();
  await page.locator('.step-detail .badge', { hasText: 'not started' }).waitFor(T);
  await shot('cancelled');
});

await test('failed', async (page, shot) => {
  await signUp(page);
  await startRun(page, `name: CI
steps:
  - { name: ok, command: echo fine }
  - { name: broken, depends_on: [ok], command: 'echo "something broke" >&2; exit 3' }
`);
  await node(page, 'broken').and(page.locator('[data-status="failed"]')).waitFor(T);
  const border = await node(page, 'broken').evaluate((el) => getComputedStyle(el).borderTopColor);
  assert.match(border, /rgb\((2\d\d|1\d\d), \d+, \d+\)/, `failed node is red, got ${border}`);
  await node(page, 'broken').click();
  // The run's identity: the tab names it and its state; the workflow's
  // name, the trigger (the UI), and when, exactly on hover.
  const id = page.url().match(/runs\/(\d+)/)[1];
  await page.waitForFunction((t) => document.title === t, `✗ Run ${id} · CI · failed`, T);
  const meta = page.locator('.run > .toolbar .run-meta');
  assert.match(await meta.innerText(), /^CI · ui · (just now|\d+ sec\. ago)/);
  assert.match(await meta.locator('time').getAttribute('title'), /\d{1,2}:\d\d:\d\d/);
  assert.doesNotMatch(await page.locator('.run > .toolbar').innerText(), /\b(open|ended)\b/, 'no stream-state word');
  // The failed step's header says its exit once.
  const head = page.locator('.step-detail > .toolbar');
  await head.getByText('exit code 3').waitFor(T);
  assert.equal((await head.innerText()).match(/exit/g).length, 1, `the exit is said once: ${await head.innerText()}`);
  await page.locator('.log-row.stderr', { hasText: 'something broke' }).waitFor(T);
  await page.axe('failed run with its log');
  await shot('failed');
  // A workflow with errors shows them with their line numbers (and is
  // refused with a 422, on purpose).
  page.allowFailure(/\/runs\?event=manual/);
  await submitRun(page, 'steps:\n  - name: x\n    comand: true\n');
  await page.locator('.problems li').first().waitFor(T);
  assert.match(await page.locator('.problems').innerText(), /line \d+/);
  // The editor marks the problem's line, and the problem shows it.
  await page.locator('.editor .gl.bad[data-line="3"]').waitFor(T);
  await page.locator('.problems button', { hasText: /^line 3/ }).first().click();
  const sel = await page.getByLabel('Workflow text').evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd));
  assert.equal(sel, '    comand: true', 'the problem selects its line');
  await page.axe('new run with problems');
  await shot('invalid-workflow');
});

await test('phone', async (page, shot) => {
  await signUp(page);
  await startRun(page, 'steps:\n  - { name: one, command: echo hi }\n  - { name: two, depends_on: [one], command: echo there }\n');
  await node(page, 'two').and(page.locator('[data-status="succeeded"]')).waitFor(T);
  await node(page, 'one').click();
  await page.locator('.log-row', { hasText: 'hi' }).waitFor(T);
  await page.axe('run page on a phone');
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
  // Seven fresh loads; the figure is their median (and range).
  const ms = [];
  for (let i = 0; i < 7; i++) {
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName('run-rendered').length > 0, null, T);
    ms.push(Math.round(await page.evaluate(() => performance.getEntriesByName('run-rendered')[0].startTime)));
  }
  ms.sort((a, b) => a - b);
  figures['run page with 200 steps: first render, ms since navigation (p50 of 7; min-max)'] = `${ms[3]} (${ms[0]}-${ms[6]})`;
  await shot('200-steps');
  // The whole graph is drawn and fitted.
  assert.equal(await page.locator('.dag .node').count(), 200, 'all 200 nodes are drawn');
});

// rowsInView reads the drawn log rows that intersect the log box, in line
// order, with their on-screen rectangles: what the reader sees.
const rowsInView = (page) => page.locator('.log-box').evaluate((box) => {
  const b = box.getBoundingClientRect();
  const bottom = b.top + box.clientTop + box.clientHeight;
  const rows = [...box.querySelectorAll('.log-row')].map((r) => {
    const rc = r.getBoundingClientRect();
    return { n: Number(r.dataset.n), top: rc.top, bottom: rc.bottom, text: r.querySelector('.lt').textContent, target: r.classList.contains('target') };
  }).filter((r) => r.bottom > b.top + box.clientTop && r.top < bottom).sort((x, y) => x.n - y.n);
  return { rows, boxTop: b.top + box.clientTop, boxBottom: bottom, scaled: box.dataset.scaled === 'true', scrollHeight: box.scrollHeight };
});

// evenRows asserts the rows in view are consecutive lines drawn exactly
// 18 px apart, each showing its own number, and returns them.
async function evenRows(page, what) {
  const v = await rowsInView(page);
  assert.ok(v.rows.length >= 10, `${what}: ${v.rows.length} rows in view`);
  for (let i = 1; i < v.rows.length; i++) {
    assert.equal(v.rows[i].n, v.rows[i - 1].n + 1, `${what}: rows ${v.rows[i - 1].n} and ${v.rows[i].n} are not consecutive`);
    assert.equal(v.rows[i].top - v.rows[i - 1].top, 18, `${what}: rows ${v.rows[i - 1].n} and ${v.rows[i].n} are drawn ${v.rows[i].top - v.rows[i - 1].top} px apart`);
  }
  for (const r of v.rows) assert.equal(r.text, String(r.n), `${what}: row ${r.n} shows ${r.text}`);
  return v;
}

await test('measure-1M-lines', async (page, shot) => {
  await signUp(page);
  await startRun(page, 'steps:\n  - { name: big, command: seq 1 1000000 }\n');
  await node(page, 'big').and(page.locator('[data-status="succeeded"]')).waitFor({ timeout: 120_000 });
  const t0 = await page.evaluate(() => performance.now());
  await node(page, 'big').click();
  // First lines visible: any row drawn with its text (not the placeholder).
  await page.locator('.log-row .lt', { hasText: /^\d+$/ }).first().waitFor(T);
  const t1 = await page.evaluate(() => performance.now());
  figures['1,000,000-line log: click to first lines visible (ms)'] = Math.round(t1 - t0);
  // The viewer follows the tail: it shows the last line once the pages up to it are read.
  await page.locator('.log-row[data-n="1000000"]').waitFor({ timeout: 120_000 });
  figures['1,000,000-line log: click to its last line drawn (ms)'] = Math.round((await page.evaluate(() => performance.now())) - t0);
  // It opens at its end; the lines before fill in behind ("loading" until then).
  await page.getByText(/1,000,000 lines · (live|complete)/).waitFor({ timeout: 120_000 });
  figures['1,000,000-line log: all lines loaded (ms)'] = Math.round((await page.evaluate(() => performance.now())) - t0);
  const reads = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => /\/logs\?/.test(e.name)).map((e) => e.duration).sort((a, b) => a - b));
  figures['1,000,000-line log: range reads (count, median ms, max ms)'] = `${reads.length}, ${Math.round(reads[reads.length >> 1])}, ${Math.round(reads.at(-1))}`;
  const box = page.locator('.log-box');
  assert.equal(await box.getAttribute('data-scaled'), 'true', 'a 1M-line log scrolls scaled');

  // The very end, reached by dragging the scrollbar to the bottom.
  const s0 = await page.evaluate(() => performance.now());
  await box.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.locator('.log-row[data-n="1000000"]').waitFor(T);
  figures['1,000,000-line log: jump to end, drawn (ms)'] = Math.round((await page.evaluate(() => performance.now())) - s0);
  let v = await evenRows(page, 'at the end');
  const lastRow = v.rows.at(-1);
  assert.equal(lastRow.n, 1_000_000, 'the last line is the last row in view');
  assert.ok(Math.abs(lastRow.bottom - v.boxBottom) <= 1, `the last line ends at the bottom of the box (${lastRow.bottom} vs ${v.boxBottom})`);
  assert.ok(v.scrollHeight <= 2_000_000, `the scroll height is capped (${v.scrollHeight} px)`);
  figures['1,000,000-line log: row spacing at the end (px)'] = [...new Set(v.rows.slice(1).map((r, i) => r.top - v.rows[i].top))].join(',');
  figures['1,000,000-line log: scroll height (px)'] = v.scrollHeight;
  figures['1,000,000-line log: DOM rows'] = await page.locator('.log-row').count();
  await shot('1M-lines-end');

  // Deep link to L999999: the line is shown, marked, and in view.
  await page.evaluate(() => { location.hash = 'big:L999999'; });
  await page.locator('.log-row.target[data-n="999999"]').waitFor(T);
  v = await evenRows(page, 'at L999999');
  const target = v.rows.find((r) => r.n === 999_999);
  assert.ok(target && target.target && target.top >= v.boxTop && target.bottom <= v.boxBottom, 'L999999 is in view and marked');
  await shot('1M-lines-L999999');

  // A deep link into the middle, after a reload (the link is shared).
  await page.goto(page.url().replace(/#.*/, '') + '#big:L500000');
  await page.locator('.log-row.target[data-n="500000"]').waitFor({ timeout: 120_000 });
  v = await evenRows(page, 'at L500000');
  assert.ok(v.rows.some((r) => r.n === 500_000 && r.top >= v.boxTop && r.bottom <= v.boxBottom), 'L500000 is in view');
  await page.getByText(/1,000,000 lines · (live|complete)/).waitFor({ timeout: 120_000 });
  assert.ok(await page.locator('.log-row[data-n="500000"]').count(), 'the deep link holds while the rest of the log loads');

  // Keyboard: Home, PageDown, ArrowDown, End move by rows, not by the scale.
  await box.focus();
  await page.keyboard.press('Home');
  await page.locator('.log-row[data-n="1"]').waitFor(T);
  v = await evenRows(page, 'after Home');
  assert.equal(v.rows[0].n, 1);
  await page.keyboard.press('PageDown');
  await page.keyboard.press('ArrowDown');
  v = await evenRows(page, 'after PageDown, ArrowDown');
  assert.ok(v.rows[0].n > 1 && v.rows[0].n < 60, `PageDown and ArrowDown moved by a page and a bit (first row ${v.rows[0].n})`);
  // A wheel notch moves by its pixels: 180 px is 10 lines.
  const before = v.rows[0];
  const bb = await box.boundingBox();
  await page.mouse.move(bb.x + bb.width / 2, bb.y + bb.height / 2);
  await page.mouse.wheel(0, 180);
  await page.waitForFunction((a) => {
    const r = document.querySelector(`.log-row[data-n="${a.n}"]`);
    return r !== null && Math.abs(r.getBoundingClientRect().top - a.top) < 0.5;
  }, { n: before.n + 10, top: before.top }, T);
  v = await evenRows(page, 'after the wheel');
  const moved = v.rows.find((r) => r.n === before.n + 10);
  assert.ok(moved && Math.abs(moved.top - before.top) < 0.5, `a 180 px wheel step moves 10 lines (line ${before.n + 10} at ${moved?.top}, was ${before.top})`);
  await page.keyboard.press('End');
  await page.locator('.log-row[data-n="1000000"]').waitFor(T);
  await evenRows(page, 'after End');

  // Search jumps to its hit.
  await page.getByLabel('Search the log').fill('12345');
  await page.getByText(/^1\/\d+$/).waitFor({ timeout: 60_000 });
  await page.getByLabel('Search the log').press('Enter');
  await page.getByText(/^2\/\d+$/).waitFor(T);
  v = await evenRows(page, 'after a search jump');
  assert.ok(v.rows.some((r) => r.text.includes('12345') && r.top >= v.boxTop && r.bottom <= v.boxBottom), 'the search hit is in view');
  await shot('1M-lines-search');
});

// Projects, Usage and the quota and GitHub error states: a server with a
// (fake) GitHub App and an admin, in e2e/pages.mjs.
await (await import('./pages.mjs')).default({ browser, bin, work, base, results, shots });

await test('scaled-follow', async (page, shot) => {
  // A log that outgrows the scroll cap while it prints: the viewer stays at
  // the bottom, rows stay 18 px apart, and no line is lost or doubled.
  await signUp(page);
  const gate = join(work, `gate-${Date.now()}`);
  await startRun(page, `steps:\n  - { name: grow, command: 'seq 1 100000; while [ ! -e ${gate} ]; do sleep 0.1; done; seq 100001 200000' }\n`);
  await node(page, 'grow').and(page.locator('[data-status="running"]')).waitFor(T);
  await node(page, 'grow').click();
  await page.getByText('100,000 lines').waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('.log-box').getAttribute('data-scaled'), 'true', '100,000 lines scroll scaled');
  await page.locator('.log-row[data-n="100000"]').waitFor(T);
  let v = await evenRows(page, 'following at 100,000');
  assert.equal(v.rows.at(-1).n, 100_000, 'the viewer sits at the tail');
  writeFileSync(gate, '');
  await page.getByText('200,000 lines').waitFor({ timeout: 60_000 });
  await page.locator('.log-row[data-n="200000"]').waitFor(T);
  v = await evenRows(page, 'following at 200,000');
  assert.equal(v.rows.at(-1).n, 200_000, 'the viewer followed the tail');
  assert.ok(Math.abs(v.rows.at(-1).bottom - v.boxBottom) <= 1, 'the last line ends at the bottom of the box');
  assert.ok(!(await page.getByText('missing').count()), 'no line is missing');
  await shot('followed');
});

// The JS the browser downloads, gzipped as a server would send it.
{
  const dist = join(root, 'internal', 'server', 'ui', 'dist', 'assets');
  let js = 0;
  for (const f of readdirSync(dist)) if (f.endsWith('.js')) js += gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
  figures['JS bundle, gzip (kB)'] = (js / 1000).toFixed(1);
}

await browser.close();
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
rmSync(work, { recursive: true, force: true });
console.log(results.join('\n'));
for (const [k, v] of Object.entries(figures)) console.log(`figure: ${k}: ${v}`);
process.exit(results.some((r) => r.startsWith('FAIL')) ? 1 : 0);
