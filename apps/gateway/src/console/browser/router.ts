// A tiny history router: /console, /console/jobs/<id>, /console/submit. The gateway serves the same shell for
// every /console/* path, so each of these is deep-linkable and survives a reload.
import { useEffect, useState } from 'react';

export type Route = { page: 'jobs' } | { page: 'job'; id: string } | { page: 'submit' };

export const BASE = '/console';

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : '';
  const job = /^\/jobs\/([^/]+)\/?$/.exec(rest);
  if (job) return { page: 'job', id: decodeURIComponent(job[1]!) };
  if (/^\/submit\/?$/.test(rest)) return { page: 'submit' };
  return { page: 'jobs' };
}

export const hrefOf = (r: Route): string =>
  r.page === 'job'
    ? `${BASE}/jobs/${encodeURIComponent(r.id)}`
    : r.page === 'submit'
      ? `${BASE}/submit`
      : BASE;

export function navigate(r: Route): void {
  history.pushState(null, '', hrefOf(r));
  dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.pathname));
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  return route;
}
