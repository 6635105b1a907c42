// The API's shapes (api/openapi.yaml), as the UI uses them. Statuses are
// plain strings: a status this build does not know yet still renders.

export interface Step {
  name: string;
  status: string;
  attempt: number;
  exit_code?: number;
  reason?: string;
  depends_on: string[];
  started_at?: string;
  finished_at?: string;
  duration_ms?: number;
  place_in_line?: number;
  waiting_reason?: string; // why a queued step is not taken, e.g. "no worker with labels arch=arm64"
}

export interface Run {
  id: number;
  tenant_id: number;
  project_id?: number;
  file: string;
  name?: string; // the workflow's name:, on a single run
  trigger: string;
  branch?: string;
  event?: string;
  sha?: string;
  repo?: string;
  status: string;
  reason?: string;
  admission?: 'pending' | 'blocked'; // set while a queued run waits for a slot or for minutes
  position?: number; // place in the tenant's pending line, 1 next (run page only)
  requested_at: string;
  started_at?: string;
  finished_at?: string;
  duration_ms?: number;
  last_seq: number;
  steps?: Step[];
}

export interface Membership {
  tenant_id: number;
  name: string;
  role: string;
  personal: boolean;
}

export interface Me {
  id: number;
  username: string;
  memberships: Membership[];
}

export interface Problem {
  line?: number;
  column?: number;
  message: string;
}
