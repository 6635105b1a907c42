// guard watches a page for what a user would call broken and no test asked
// for: console errors, uncaught exceptions, failed requests and HTTP error
// answers. A test that causes one on purpose says so first with
// page.allowFailure(/url pattern/). Requests the app aborts itself (a
// stream stopped on navigation) are not failures.
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const axeSource = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'web', 'package.json')).resolve('axe-core/axe.min.js');

export function guard(page) {
  const allowed = [];
  const problems = [];
  // page.axe checks the page as it is now with axe-core; serious and
  // critical violations fail the test.
  page.axe = async (what) => {
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: axeSource });
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
    });
    for (const f of found) problems.push(`axe on ${what}: ${f}`);
  };
  const ok = (url) => allowed.some((re) => re.test(url ?? ''));
  page.allowFailure = (re) => allowed.push(re);
  page.on('console', (m) => {
    if (m.type() === 'error' && !ok(m.location()?.url)) problems.push(`console error: ${m.text()} (at ${m.location()?.url ?? '?'})`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? '';
    if (why !== 'net::ERR_ABORTED' && !ok(r.url())) problems.push(`request failed: ${r.method()} ${r.url()}: ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !ok(r.url())) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return {
    // check throws when the page misbehaved; call it after the test's steps.
    check() {
      if (problems.length) throw new Error(`the page misbehaved:\n  ${problems.join('\n  ')}`);
    },
  };
}
