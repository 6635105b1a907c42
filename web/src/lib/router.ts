// A tiny history router: the server answers every non-API path with
// index.html, so paths are real URLs and the fragment is free for log line
// deep links (#<step>:L42).
import { useEffect, useState } from 'react';

const ev = 'runbook:navigate';

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new Event(ev));
}

export function useLocation(): { path: string; query: URLSearchParams; hash: string } {
  const read = () => ({ path: location.pathname, query: new URLSearchParams(location.search), hash: decodeURIComponent(location.hash.slice(1)) });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const on = () => setLoc(read());
    window.addEventListener('popstate', on);
    window.addEventListener('hashchange', on);
    window.addEventListener(ev, on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener('hashchange', on);
      window.removeEventListener(ev, on);
    };
  }, []);
  return loc;
}

// Link navigates in-app on a plain click and lets modified clicks open tabs.
export function onLinkClick(e: React.MouseEvent<HTMLAnchorElement>): void {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(e.currentTarget.getAttribute('href')!);
}
