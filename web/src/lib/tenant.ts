// Projects and usage: the tenant-wide API shapes (api/openapi.yaml) and
// their calls.
import { api, tenantPath } from './api';

export interface Project {
  id: number;
  installation_id: number;
  full_name: string;
  default_branch: string;
  enabled: boolean;
  last_error?: string;
}

export interface Plan {
  name: string;
  minutes: number;
  max_concurrent: number;
}

export interface WaitingRun {
  run_id: number;
  position?: number;
  reason?: string;
  file?: string;
  branch?: string;
  requested_at?: string;
}

export interface Usage {
  tenant_id: number;
  plan: Plan;
  cycle_start: string;
  cycle_end: string;
  minutes_used: number;
  minutes_granted: number;
  minutes_debt: number;
  minutes_remaining: number;
  running: number;
  pending: number;
  blocked: number;
  line: WaitingRun[];
  blocked_runs?: WaitingRun[];
}

export const listProjects = (t: number) => api<{ projects: Project[] }>(tenantPath(t, '/projects')).then((r) => r.projects);

export const setProjectEnabled = (t: number, id: number, on: boolean) =>
  api<Project>(tenantPath(t, `/projects/${id}/${on ? 'enable' : 'disable'}`), { method: 'POST' });

export const runProject = (t: number, id: number, branch = '') =>
  api<{ run_id: number }>(tenantPath(t, `/projects/${id}/runs`), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(branch ? { branch } : {}),
  });

export const getUsage = (t: number) => api<Usage>(tenantPath(t, '/usage'));
