// End-to-end tests of the Projects and Usage pages and the quota and GitHub
// error states. They need what the main server of e2e.mjs lacks: a GitHub
// App (here backed by a fake GitHub API on a local port, fed signed
// webhooks) and an admin who changes the tenant's plan. So they start their
// own `runbook server`, with the same binary.
import { spawn } from 'node:child_process';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { guard } from './guard.mjs';

const SECRET = 'e2e-webhook-secret';
const SHA = 'a'.repeat(40);
const GOOD = 'steps:\n  - { name: hello, command: echo hello }\n';
const BROKEN = 'steps:\n  - name: build\n    comand: make\n  - name: test\n    depends_on: [nope]\n    command: make test\n';

// The installations the fake GitHub knows, and their repositories.
const installs = {
  7: { login: 'acme', repos: [{ id: 701, name: 'api', workflow: GOOD }, { id: 702, name: 'broken', workflow: BROKEN }] },
  8: { login: 'globex', repos: [{ id: 801, name: 'site', workflow: GOOD }] },
};

function repoJSON(inst, r, base) {
  const full = `${installs[inst].login}/${r.name}`;
  return { id: r.id, name: r.name, full_name: full, owner: { login: installs[inst].login }, default_branch: 'main', private: false, clone_url: `${base}/git/${full}.git` };
}

function fakeGitHub() {
  const checks = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const send = (code, v) => { res.writeHead(code, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(v)); };
      const base = `http://${req.headers.host}`;
      const u = new URL(req.url, base);
      const tok = /token (ghs_fake_(\d+))/.exec(req.headers.authorization ?? '') ?? /Bearer (ghs_fake_(\d+))/.exec(req.headers.authorization ?? '');
      let m;
      if (req.method === 'POST' && (m = u.pathname.match(/^\/app\/installations\/(\d+)\/access_tokens$/))) {
        return send(201, { token: `ghs_fake_${m[1]}`, expires_at: new Date(Date.now() + 3600e3).toISOString(), permissions: { contents: 'read', checks: 'write' } });
      }
      if (req.method === 'GET' && u.pathname === '/installation/repositories' && tok) {
        const rs = installs[tok[2]].repos.map((r) => repoJSON(tok[2], r, base));
        return send(200, { total_count: rs.length, repositories: rs });
      }
      const repo = (owner, name) => {
        for (const [id, i] of Object.entries(installs)) if (i.login === owner) return i.repos.find((r) => r.name === name) && { inst: id, r: i.repos.find((r) => r.name === name) };
        return null;
      };
      if (req.method === 'GET' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\/branches\/(.+)$/)) && repo(m[1], m[2])) {
        return send(200, { name: m[3], commit: { sha: SHA } });
      }
      if (req.method === 'GET' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\/contents\/\.runbook\.yml$/)) && repo(m[1], m[2])) {
        const src = repo(m[1], m[2]).r.workflow;
        return send(200, { type: 'file', name: '.runbook.yml', path: '.runbook.yml', encoding: 'base64', size: src.length, content: Buffer.from(src).toString('base64') });
      }
      if (req.method === 'POST' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\/check-runs$/))) {
        checks.push(JSON.parse(body));
        return send(201, { id: checks.length, status: 'queued' });
      }
      if (req.method === 'PATCH' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\/check-runs\/(\d+)$/))) {
        checks[Number(m[3]) - 1] = { ...checks[Number(m[3]) - 1], ...JSON.parse(body) };
        return send(200, { id: Number(m[3]) });
      }
      send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, url: `http://127.0.0.1:${srv.address().port}`, checks })));
}

function startServer(bin, args) {
  const server = spawn(bin, ['server', ...args, '--addr', '127.0.0.1:0', '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const base = new Promise((resolve, reject) => {
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
  return { server, base };
}

async function call(base, method, path, token, body) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function webhook(base, event, payload) {
  const body = JSON.stringify(payload);
  const res = await fetch(`${base}/webhooks/github`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json', 'X-GitHub-Event': event, 'X-GitHub-Delivery': `e2e-${Math.random().toString(36).slice(2)}`,
      'X-Hub-Signature-256': 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex'),
    },
    body,
  });
  assert.equal(res.status, 202, `webhook ${event}: ${res.status} ${await res.text()}`);
}

async function until(what, fn, ms = 20_000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// pagesTests runs the tests, adding their outcomes to results like
// e2e.mjs's own; E2E_ONLY filters them by name the same way.
export default async function pagesTests({ browser, bin, work, base: mainBase, results, shots }) {
  let base = mainBase;
  // run is e2e.mjs's test() with options: viewport, colorScheme, baseURL.
  const run = async (name, fn, opts = {}) => {
    if (process.env.E2E_ONLY && !new RegExp(process.env.E2E_ONLY).test(name)) return;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: base, ...opts });
    const page = await ctx.newPage();
    const watch = guard(page);
    let n = 0;
    const shot = (what) => page.screenshot({ path: join(shots, `${name}-${++n}-${what}.png`), fullPage: true });
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
  };

  // Without a GitHub App the projects page says so (the main server).
  await run('projects-no-github', async (page, shot) => {
    await page.goto('/signup');
    const u = `e2e-nogh-${process.pid}`;
    await page.getByLabel('Email').fill(`${u}@example.com`);
    await page.getByLabel('Username').fill(u);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    // Without a GitHub App the projects API answers 404 not_configured,
    // which is how the page learns it: expected here.
    page.allowFailure(/\/api\/v1\/tenants\/\d+\/projects$/);
    await page.getByRole('link', { name: 'Projects', exact: true }).click();
    await page.getByRole('heading', { name: 'GitHub is not connected to this server' }).waitFor();
    await page.axe('projects without GitHub');
    await shot('projects');
  });

  const gh = await fakeGitHub();
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' });
  const keyFile = join(work, 'github-app.pem');
  writeFileSync(keyFile, key, { mode: 0o600 });
  // --github-default-tenant must name a tenant that exists when the server
  // starts: a first start creates the admin, whose tenant (1) it names.
  const password = 'correct horse battery';
  {
    const setup = startServer(bin, ['--data-dir', join(work, 'data-pages')]);
    await call(await setup.base, 'POST', '/api/v1/auth/signup', null, { email: 'admin@example.com', username: 'e2e-admin', password });
    const exited = new Promise((resolve) => setup.server.on('exit', resolve));
    setup.server.kill('SIGTERM');
    await exited;
  }
  const { server, base: basePromise } = startServer(bin, [
    '--data-dir', join(work, 'data-pages'), '--admins', 'e2e-admin', '--public-url', 'http://127.0.0.1:1',
    '--github-app-id', '12345', '--github-app-key-file', keyFile, '--github-webhook-secret', SECRET,
    '--github-api-url', `${gh.url}/`, '--github-default-tenant', '1',
    // "Sign in with GitHub" configured; GitLab is not.
    '--github-client-id', 'e2e-client', '--github-client-secret', 'e2e-client-secret',
  ]);
  base = await basePromise;
  try {
    const { access_token: admin } = await call(base, 'POST', '/api/v1/auth/login', null, { login: 'e2e-admin', password });
    const me = await call(base, 'GET', '/api/v1/user', admin);
    const tenant = me.memberships.find((m) => m.personal).tenant_id;
    assert.equal(tenant, 1, 'the first user owns tenant 1, the default tenant of installations');

    // Two installations; the second is then suspended on GitHub.
    for (const id of [7, 8]) await webhook(base, 'installation', { action: 'created', installation: { id, account: { login: installs[id].login } } });
    await until('3 projects', async () => (await call(base, 'GET', `/api/v1/tenants/${tenant}/projects`, admin)).projects.length === 3);
    await webhook(base, 'installation', { action: 'suspend', installation: { id: 8, account: { login: 'globex' } } });
    await until('a suspended project', async () => (await call(base, 'GET', `/api/v1/tenants/${tenant}/projects`, admin)).projects.some((p) => /suspended/.test(p.last_error ?? '')));

    await run('oauth-buttons', async (page, shot) => {
      // Only the configured provider has a button, and it starts a login.
      await page.goto('/login');
      const gh = page.getByRole('link', { name: 'Sign in with GitHub' });
      await gh.waitFor();
      assert.equal(await page.getByRole('link', { name: /^Sign in with/ }).count(), 1, 'one OAuth button');
      assert.equal(await gh.getAttribute('href'), '/auth/github/login');
      const start = await fetch(base + '/auth/github/login', { redirect: 'manual' });
      assert.equal(start.status, 302, 'the button starts a login');
      await shot('login');
    });

    const login = async (page, name = 'e2e-admin') => {
      await page.goto('/login');
      await page.getByLabel('Username or email').fill(name);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    };

    await run('projects', async (page, shot) => {
      await login(page);
      await page.getByRole('link', { name: 'Projects', exact: true }).click();
      await page.getByText('acme/api').waitFor();
      await page.getByRole('heading', { name: 'GitHub installation suspended' }).waitFor();
      assert.equal(await page.getByText('installation suspended', { exact: true }).count(), 1, 'the suspended project is marked');
      await page.axe('projects');
      await shot('projects');
      // A broken .runbook.yml: Run now says no run was created (a 422, on purpose).
      page.allowFailure(/\/projects\/\d+\/runs$/);
      await page.getByRole('listitem', { name: 'acme/broken' }).getByRole('button', { name: 'Run now' }).click();
      const broken = page.getByRole('listitem', { name: 'acme/broken' });
      await broken.locator('.problems li').first().waitFor();
      assert.match(await broken.locator('.problems').innerText(), /line 3:5 .*comand/, 'Run now names the broken line');
      await shot('run-now-broken-workflow');
      // The project keeps the problems as its last error.
      await page.reload();
      await broken.getByRole('heading', { name: /The workflow file has \d+ errors?/ }).waitFor();
      assert.match(await broken.locator('.problems').innerText(), /line 3:5/);
      assert.ok(await page.getByRole('listitem', { name: 'globex/site' }).getByRole('button', { name: 'Run now' }).isDisabled(), 'a suspended project cannot run');
      // Disable and enable.
      const api = page.getByRole('listitem', { name: 'acme/api' });
      await api.getByRole('checkbox', { name: 'Enabled' }).click();
      await api.getByRole('checkbox', { name: 'Disabled' }).waitFor();
      assert.ok(await api.getByRole('button', { name: 'Run now' }).isDisabled(), 'a disabled project cannot run');
      await shot('disabled');
      await api.getByRole('checkbox', { name: 'Disabled' }).click();
      await api.getByRole('button', { name: 'Run now' }).click();
      await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
      await shot('run-now');
    });

    await run('projects-empty', async (page, shot) => {
      await page.goto('/signup');
      await page.getByLabel('Email').fill('nobody@example.com');
      await page.getByLabel('Username').fill('e2e-nobody');
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign up' }).click();
      await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
      await page.getByRole('link', { name: 'Projects', exact: true }).click();
      await page.getByRole('heading', { name: 'No repositories yet' }).waitFor();
      await shot('projects');
      await page.getByRole('link', { name: 'Usage', exact: true }).click();
      await page.getByText('No run is waiting for a slot.').waitFor();
      await shot('usage');
    });

    // One run at a time: the second waits in line, then minutes run out.
    await call(base, 'PUT', '/api/v1/admin/plans/solo', admin, { minutes: 1000, max_concurrent: 1 });
    await call(base, 'PUT', `/api/v1/admin/tenants/${tenant}/plan`, admin, { plan: 'solo' });
    const runs = [];
    const submit = async () => {
      const res = await fetch(`${base}/api/v1/tenants/${tenant}/runs`, { method: 'POST', headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/yaml' }, body: "steps:\n  - { name: wait, command: 'sleep 60' }\n" });
      assert.equal(res.status, 201);
      const r = await res.json();
      runs.push(r.id);
      return r;
    };

    await run('usage-pending', async (page, shot) => {
      await login(page);
      await submit();
      const second = await submit();
      assert.equal(second.admission, 'pending');
      await page.goto(`/t/${tenant}/runs/${second.id}`);
      await page.getByText('Pending: #1 in line.').waitFor();
      await page.locator('.node[data-status="pending"]').waitFor();
      await shot('run-pending');
      await page.getByRole('link', { name: 'Usage', exact: true }).click();
      await page.getByRole('heading', { name: 'Pending line (1)' }).waitFor();
      assert.equal(await page.getByRole('group', { name: 'Concurrency' }).locator('.v').innerText(), '1 / 1');
      await page.axe('usage');
      await shot('usage');
    });

    await call(base, 'PUT', '/api/v1/admin/plans/empty', admin, { minutes: 0, max_concurrent: 1 });
    await call(base, 'PUT', `/api/v1/admin/tenants/${tenant}/plan`, admin, { plan: 'empty' });

    const blockedRun = async (page, shot) => {
      await login(page);
      await page.getByRole('link', { name: 'New run' }).first().click();
      await page.getByRole('button', { name: 'Start run' }).click();
      await page.getByRole('heading', { name: /^Run \d+$/ }).waitFor();
      runs.push(Number(/runs\/(\d+)/.exec(page.url())[1]));
      await page.getByText('Quota exhausted: this run is blocked.').waitFor();
      await page.locator('.node[data-status="blocked"]').first().waitFor();
      await page.axe('blocked run');
      await shot('run-blocked');
      await page.getByRole('link', { name: 'Runs', exact: true }).click();
      await page.getByText(/runs? here (is|are) blocked/).waitFor();
      await page.axe('runs list with a blocked run');
      await shot('runs-blocked');
      await page.getByRole('link', { name: 'Usage', exact: true }).click();
      await page.getByRole('heading', { name: /^Blocked \(\d+\)$/ }).waitFor();
      await page.getByText('Quota exhausted.', { exact: false }).first().waitFor();
      await page.axe('usage with a blocked run');
      await shot('usage');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the usage page scrolls sideways by ${overflow}px`);
      await page.getByRole('link', { name: 'Projects', exact: true }).click();
      await page.getByText('acme/api').waitFor();
      await shot('projects');
      const o2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(o2 <= 1, `the projects page scrolls sideways by ${o2}px`);
    };
    await run('quota-blocked', blockedRun);
    await run('quota-blocked-dark', blockedRun, { colorScheme: 'dark' });
    await run('quota-blocked-phone', blockedRun, { viewport: { width: 390, height: 844 } });
    await run('quota-blocked-phone-dark', blockedRun, { viewport: { width: 390, height: 844 }, colorScheme: 'dark' });

    for (const id of runs) await call(base, 'POST', `/api/v1/tenants/${tenant}/runs/${id}/cancel`, admin).catch(() => {});
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
    gh.srv.close();
  }
}
