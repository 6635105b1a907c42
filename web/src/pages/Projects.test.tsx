// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { ProjectsPage } from './Projects';
import { fakeApi } from '../test/fakeApi';
import type { Project } from '../lib/tenant';

beforeEach(() => history.replaceState(null, '', '/t/1/projects'));
afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const P = '/api/v1/tenants/1/projects';
const project = (over: Partial<Project>): Project => ({ id: 1, installation_id: 7, full_name: 'acme/api', default_branch: 'main', enabled: true, ...over });
const suspended = "installation 7 was suspended on GitHub: unsuspend it in the organization's settings";

describe('ProjectsPage', () => {
  it('says how to get repositories when there are none', async () => {
    fakeApi({ [`GET ${P}`]: { body: { projects: [] } } });
    render(<ProjectsPage tenant={1} />);
    await screen.findByRole('heading', { name: 'No repositories yet' });
    expect(screen.getByText(/Install the Runbook GitHub App/)).toBeTruthy();
  });

  it('says when the server has no GitHub App', async () => {
    fakeApi({ [`GET ${P}`]: { status: 404, body: { error: { code: 'github_not_configured', message: 'the GitHub App is not configured' } } } });
    render(<ProjectsPage tenant={1} />);
    await screen.findByRole('heading', { name: 'GitHub is not connected to this server' });
  });

  it('shows a suspended installation once, and a workflow error by its lines', async () => {
    fakeApi({
      [`GET ${P}`]: {
        body: {
          projects: [
            project({ id: 1, full_name: 'acme/api', last_error: suspended }),
            project({ id: 2, full_name: 'acme/web', last_error: suspended }),
            project({ id: 3, installation_id: 8, full_name: 'solo/tool', last_error: '.runbook.yml:3:5: unknown key "comand"\n.runbook.yml:9:3: a step needs a command' }),
          ],
        },
      },
    });
    render(<ProjectsPage tenant={1} />);
    await screen.findByText('acme/api');
    expect(screen.getAllByRole('heading', { name: 'GitHub installation suspended' })).toHaveLength(1);
    expect(screen.getAllByText('installation suspended')).toHaveLength(2);
    const tool = screen.getByRole('listitem', { name: 'solo/tool' });
    expect(within(tool).getByRole('heading').textContent).toBe('The workflow file has 2 errors');
    const items = within(tool).getAllByRole('listitem').map((li) => li.textContent);
    expect(items).toEqual(['line 3:5 unknown key "comand"', 'line 9:3 a step needs a command']);
    const site = screen.getByRole('listitem', { name: 'acme/web' });
    expect((within(site).getByRole('button', { name: 'Run now' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('runs a project now and opens the run', async () => {
    const calls = fakeApi({
      [`GET ${P}`]: { body: { projects: [project({})] } },
      [`POST ${P}/1/runs`]: { status: 201, body: { run_id: 42 } },
    });
    render(<ProjectsPage tenant={1} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Run now' }));
    await waitFor(() => expect(location.pathname).toBe('/t/1/runs/42'));
    expect(calls.find((c) => c.method === 'POST')).toEqual({ method: 'POST', path: `${P}/1/runs`, body: '{}' });
  });

  it('shows why Run now failed, with the lines of a broken workflow', async () => {
    fakeApi({
      [`GET ${P}`]: { body: { projects: [project({})] } },
      [`POST ${P}/1/runs`]: { status: 422, body: { error: { code: 'invalid', message: `invalid input: no run was created for acme/api at ${'a'.repeat(40)}:\n.runbook.yml:2:1: steps must be a list` } } },
    });
    render(<ProjectsPage tenant={1} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Run now' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The workflow file has an error');
    expect(alert.textContent).toContain('line 2:1 steps must be a list');
    expect(alert.textContent).toContain('No run was created for acme/api at aaaaaaaa.');
    expect(location.pathname).toBe('/t/1/projects');
  });

  it('enables a disabled project, which cannot run until then', async () => {
    let enabled = false;
    const calls = fakeApi({
      [`GET ${P}`]: () => new Response(JSON.stringify({ projects: [project({ enabled })] })),
      [`POST ${P}/1/enable`]: () => { enabled = true; return new Response(JSON.stringify(project({ enabled }))); },
    });
    render(<ProjectsPage tenant={1} />);
    const run = await screen.findByRole('button', { name: 'Run now' });
    expect((run as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Disabled' }));
    await screen.findByRole('checkbox', { name: 'Enabled' });
    expect((screen.getByRole('button', { name: 'Run now' }) as HTMLButtonElement).disabled).toBe(false);
    expect(calls.some((c) => c.method === 'POST' && c.path === `${P}/1/enable`)).toBe(true);
  });
});
