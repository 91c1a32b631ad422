import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import LoginPage from '../pages/LoginPage';
import { installFakeFetch, reply } from '../test/fakeFetch';
import { renderAt } from '../test/render';

describe('LoginPage', () => {
  it('asks for the username and password before calling the server', async () => {
    const fake = installFakeFetch();
    renderAt('/login', <LoginPage />, { user: null });
    await userEvent.click(screen.getByTestId('login-submit'));
    expect(await screen.findByText('请输入用户名')).toBeInTheDocument();
    expect(screen.getByText('请输入密码')).toBeInTheDocument();
    expect(fake.calls).toHaveLength(0);
  });

  it('says the password is wrong on 401, and keeps the user on the page', async () => {
    const fake = installFakeFetch({
      'POST /api/auth/login': () => reply(401, { detail: 'Wrong username or password.' }),
    });
    renderAt('/login', <LoginPage />, { user: null });
    await userEvent.type(screen.getByTestId('login-username'), 'admin');
    await userEvent.type(screen.getByTestId('login-password'), 'not-the-password');
    await userEvent.click(screen.getByTestId('login-submit'));
    expect(await screen.findByTestId('login-error')).toHaveTextContent('用户名或密码错误');
    expect(fake.callsTo('POST /api/auth/login')[0].json).toEqual({ username: 'admin', password: 'not-the-password' });
    expect(screen.getByTestId('location')).toHaveTextContent('/login');
  });

  it("shows the server's message when sign-ins are rate limited", async () => {
    installFakeFetch({
      'POST /api/auth/login': () => reply(429, { detail: 'Too many failed sign-ins for admin; wait 300 s.' }),
    });
    renderAt('/login', <LoginPage />, { user: null });
    await userEvent.type(screen.getByTestId('login-username'), 'admin');
    await userEvent.type(screen.getByTestId('login-password'), 'whatever-it-is');
    await userEvent.click(screen.getByTestId('login-submit'));
    expect(await screen.findByTestId('login-error')).toHaveTextContent('wait 300 s');
  });

  it('signs in and goes to the page it came from (?next=)', async () => {
    installFakeFetch({
      'POST /api/auth/login': () => ({ access_token: 'token', token_type: 'bearer' }),
      'GET /api/auth/me': () => ({ id: 1, username: 'admin', role: 'admin' }),
    });
    renderAt('/login?next=%2Fjobs%2F7%3Ftab%3Dlogs', <LoginPage />, { user: null, path: '/login' });
    await userEvent.type(screen.getByTestId('login-username'), 'admin');
    await userEvent.type(screen.getByTestId('login-password'), 'correct horse battery');
    await userEvent.click(screen.getByTestId('login-submit'));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/jobs/7?tab=logs'));
  });
});
