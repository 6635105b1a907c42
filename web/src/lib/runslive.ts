// The runs list follows the tenant's event stream (GET
// /api/v1/tenants/{t}/events): each "run" event is a run as the list shows
// it, created or changed. Most change a row in place; one that may belong
// on the page but is not on it (new, or now matching the status filter)
// asks for the page again, since the server decides order and filters.
import type { Run } from './types';

export interface ListView {
  status: string; // the status filter, '' for any
  branch: string; // the branch filter, '' for any
  firstPage: boolean; // no cursor: the newest runs
  limit: number; // page size
}

// applyRunEvent returns the page's runs with ev applied (null: unchanged)
// and whether the page must be read again instead.
export function applyRunEvent(runs: Run[], ev: Run, v: ListView): { runs: Run[] | null; reload: boolean } {
  const matches = (!v.status || ev.status === v.status) && (!v.branch || ev.branch === v.branch);
  const i = runs.findIndex((r) => r.id === ev.id);
  if (i >= 0) {
    if (!matches) return { runs: null, reload: true }; // it leaves the filtered list
    const out = runs.slice();
    out[i] = ev; // whole: fields the event leaves out (admission once admitted) are gone
    return { runs: out, reload: false };
  }
  if (!matches || !v.firstPage) return { runs: null, reload: false };
  // Newest first: it belongs here if it is newer than the oldest row, or
  // if the page is not full.
  const oldest = runs.reduce((m, r) => Math.min(m, r.id), Infinity);
  return { runs: null, reload: runs.length < v.limit || ev.id > oldest };
}
