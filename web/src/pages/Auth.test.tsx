// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { LoginPage, SignUpPage, safePath } from './Auth';
import { fakeApi } from '../test/fakeApi';

beforeEach(() => { history.replaceState(null, '', '/login'); localStorage.clear(); });
afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const tokens = { token_type: 'Bearer', access_token: 'a', expires_in: 900, access_expires_at: new Date(Date.now() + 900e3).toISOString(), refresh_token: '', refresh_expires_at: new Date().toISOString() };

describe('LoginPage', () => {
  it('offers only the OAuth logins the server has configured', async () => {
    fakeApi({ 'GET /api/v1/auth/providers': { body: { providers: [{ name: 'gitlab', title: 'GitLab', login_url: '/auth/gitlab/login' }] } } });
    render(<LoginPage />);
    const b = await screen.findByRole('link', { name: 'Sign in with GitLab' });
    expect(b.getAttribute('href')).toBe('/auth/gitlab/login');
    expect(screen.queryByRole('link', { name: 'Sign in with GitHub' })).toBeNull();
  });

  it('offers none when the server has none', async () => {
    const calls = fakeApi({ 'GET /api/v1/auth/providers': { body: { providers: [] } } });
    render(<LoginPage />);
    await waitFor(() => expect(calls.some((c) => c.path === '/api/v1/auth/providers')).toBe(true));
    expect(screen.queryByRole('link', { name: /Sign in with/ })).toBeNull();
  });

  it('asks for the refresh cookie and goes back to the page that asked for the sign-in', async () => {
    const calls = fakeApi({ 'GET /api/v1/auth/providers': { body: { providers: [] } }, 'POST /api/v1/auth/login': { body: tokens } });
    render(<LoginPage next="/t/1/runs/7#build:L12" />);
    fireEvent.change(screen.getByLabelText('Username or email'), { target: { value: 'ann' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'correct horse battery' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(location.pathname + location.hash).toBe('/t/1/runs/7#build:L12'));
    expect(JSON.parse(calls.find((c) => c.path === '/api/v1/auth/login')!.body)).toEqual({ login: 'ann', password: 'correct horse battery', cookie: true });
    expect(localStorage.getItem('runbook_session')).toBe('1');
    expect(screen.getByRole('link', { name: 'Sign up' }).getAttribute('href')).toBe('/signup?next=%2Ft%2F1%2Fruns%2F7%23build%3AL12');
  });
});

describe('SignUpPage', () => {
  it('has a username pattern that compiles under the v flag, as browsers compile it', () => {
    fakeApi({ 'GET /api/v1/auth/providers': { body: { providers: [] } } });
    render(<SignUpPage />);
    const pattern = screen.getByLabelText('Username').getAttribute('pattern')!;
    const re = new RegExp(`^(?:${pattern})$`, 'v');
    expect(['ann', 'a-b-9'].map((u) => re.test(u))).toEqual([true, true]);
    expect(['A', 'x_y', 'a'].map((u) => re.test(u))).toEqual([false, false, false]);
  });
});

describe('safePath', () => {
  it('takes same-origin paths only', () => {
    expect(safePath('/t/1/runs/2#x:L5')).toBe('/t/1/runs/2#x:L5');
    for (const bad of ['//evil.example/x', '/\\evil', 'https://evil.example', '', null]) expect(safePath(bad)).toBeUndefined();
  });
});
