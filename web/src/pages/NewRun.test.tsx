// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { NewRunPage } from './NewRun';
import { fakeApi } from '../test/fakeApi';

beforeEach(() => history.replaceState(null, '', '/t/1/runs/new'));
afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

describe('NewRunPage', () => {
  it('starts the run as one from the UI and opens it', async () => {
    const calls = fakeApi({ 'POST /api/v1/tenants/1/runs': { status: 201, body: { id: 4 } } });
    render(<NewRunPage tenant={1} />);
    fireEvent.click(screen.getByRole('button', { name: 'Start run' }));
    await waitFor(() => expect(location.pathname).toBe('/t/1/runs/4'));
    expect(new URL(calls[0].path, 'http://x').searchParams.get('trigger')).toBe('ui');
  });

  it('lists a refused workflow\'s problems by line, and starts nothing', async () => {
    fakeApi({ 'POST /api/v1/tenants/1/runs': { status: 422, body: { error: { code: 'invalid_workflow', message: 'bad', details: [{ line: 3, column: 5, message: 'unknown key "comand"' }] } } } });
    render(<NewRunPage tenant={1} />);
    fireEvent.click(screen.getByRole('button', { name: 'Start run' }));
    await screen.findByText(/has an error; nothing was started/);
    expect(document.querySelector('.problems')!.textContent).toContain('line 3:5 unknown key "comand"');
    // The editor's gutter marks line 3; the problem's button selects it.
    expect(document.querySelector('.gl.bad')!.getAttribute('data-line')).toBe('3');
    fireEvent.click(screen.getByRole('button', { name: 'line 3:5' }));
    const ta = screen.getByLabelText('Workflow text') as HTMLTextAreaElement;
    expect(ta.value.slice(ta.selectionStart, ta.selectionEnd)).toBe(ta.value.split('\n')[2]);
    expect(location.pathname).toBe('/t/1/runs/new');
  });
});
