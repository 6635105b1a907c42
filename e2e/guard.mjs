// guard watches a page for what a user would call broken and no test asked
// for: console errors, uncaught exceptions, failed requests and HTTP error
// answers. A test that causes one on purpose says so first with
// page.allowFailure(/url pattern/). Requests the app aborts itself (a
// stream stopped on navigation) are not failures.
export function guard(page) {
  const allowed = [];
  const problems = [];
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
