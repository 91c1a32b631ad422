/** Render a page inside the app's providers, at a URL, signed in as `user` (null: signed out). */
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import type { User } from '../api';
import type { Lang } from '../i18n';
import Root from '../Root';

export const ADMIN: User = { id: 1, username: 'admin', role: 'admin' };
export const ENGINEER: User = { id: 2, username: 'li.engineer', role: 'engineer' };
export const VIEWER: User = { id: 3, username: 'wang.viewer', role: 'viewer' };

/** Shows the current URL, so tests can check navigation and the state kept in the query string. */
export function LocationProbe() {
  const location = useLocation();
  return <div data-testid="location">{location.pathname + location.search}</div>;
}

export function renderAt(url: string, element: ReactElement, options: { user?: User | null; lang?: Lang; path?: string } = {}) {
  return render(
    <MemoryRouter initialEntries={[url]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <Root initialUser={options.user === undefined ? ENGINEER : options.user} lang={options.lang}>
        <Routes>
          <Route path={options.path ?? '*'} element={<>{element}<LocationProbe /></>} />
          <Route path="*" element={<LocationProbe />} />
        </Routes>
      </Root>
    </MemoryRouter>,
  );
}
