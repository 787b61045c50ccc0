// The tenant's jobs, newest first: one `jobs` query, then kept live from `jobFeed`. jobFeed takes no cursor,
// so after a reconnect the list is loaded again (what changed while the socket was down is in that answer).
import { useEffect, useState } from 'react';
import { ApiError, errorOf, request } from './api-client.js';
import { ErrorBox, Link, Progress, StatusBadge, useSession, when } from './common.js';
import { useConnectionState } from './connection-badge.js';
import { JobFeedSubscription, JobsQuery, TemplatesQuery } from './documents.js';
import type { JobRowFragment, JobStatus } from './gql/graphql.js';

export const JOB_STATUSES = [
  'QUEUED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
] as const satisfies readonly JobStatus[];
const PAGE = 50;

const newestFirst = (a: JobRowFragment, b: JobRowFragment) =>
  b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);

export function JobsPage() {
  const { key, live } = useSession();
  const connection = useConnectionState(live);
  const [statuses, setStatuses] = useState<JobStatus[]>([]);
  const [template, setTemplate] = useState('');
  const [templates, setTemplates] = useState<string[]>([]);
  const [jobs, setJobs] = useState<JobRowFragment[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [feedError, setFeedError] = useState<ApiError | null>(null);
  const [reloads, setReloads] = useState(0);

  const matches = (j: JobRowFragment) =>
    (statuses.length === 0 || statuses.includes(j.status)) && (!template || j.template === template);

  useEffect(() => {
    request(key, TemplatesQuery).then(
      (d) => setTemplates(d.templates.map((t) => t.name)),
      (e) => setError(errorOf(e)),
    );
  }, [key]);

  useEffect(() => {
    if (connection.kind === 'resumed') setReloads((n) => n + 1);
  }, [connection.kind]);

  useEffect(() => {
    let stale = false;
    const filter = { ...(statuses.length ? { status: statuses } : {}), ...(template ? { template } : {}) };
    request(key, JobsQuery, { filter, first: PAGE }).then(
      (d) => {
        if (stale) return;
        setError(null);
        setJobs((current) => {
          // Keep feed updates that raced the query: the newer status wins.
          const byId = new Map(d.jobs.edges.map((e) => [e.node.id, e.node]));
          for (const j of current ?? []) if (!byId.has(j.id) && matches(j)) byId.set(j.id, j);
          return [...byId.values()].sort(newestFirst).slice(0, PAGE);
        });
      },
      (e) => !stale && setError(errorOf(e)),
    );
    return () => void (stale = true);
  }, [key, statuses.join(','), template, reloads]);

  useEffect(() => {
    setJobs(null);
    return live.subscribe(
      JobFeedSubscription,
      {},
      {
        next: (d) => {
          const job = d.jobFeed.job;
          setFeedError(null);
          setJobs((current) => {
            const rest = (current ?? []).filter((j) => j.id !== job.id);
            return (matches(job) ? [...rest, job] : rest).sort(newestFirst).slice(0, PAGE);
          });
        },
        error: setFeedError,
      },
    );
  }, [live, statuses.join(','), template]);

  const toggle = (s: JobStatus) =>
    setStatuses((cur) => (cur.includes(s) ? cur.filter((x) => x !== s) : [...cur, s]));

  return (
    <section aria-labelledby="jobs-title">
      <div className="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <Link to={{ page: 'submit' }} className="button">
          Submit a job
        </Link>
      </div>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <fieldset>
          <legend>Status</legend>
          {JOB_STATUSES.map((s) => (
            <label key={s} className="check">
              <input type="checkbox" checked={statuses.includes(s)} onChange={() => toggle(s)} /> {s}
            </label>
          ))}
        </fieldset>
        <label className="inline">
          Template{' '}
          <select value={template} onChange={(e) => setTemplate(e.target.value)}>
            <option value="">any</option>
            {templates.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorBox error={error} title="Could not load jobs" />
      <ErrorBox error={feedError} title="Live updates stopped" />
      {jobs === null ? (
        <p>Loading…</p>
      ) : jobs.length === 0 ? (
        <p className="empty">No jobs{statuses.length || template ? ' match the filter' : ' yet'}.</p>
      ) : (
        <table className="jobs">
          <caption className="visually-hidden">Jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Template</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} data-job-id={j.id}>
                <td>
                  <Link to={{ page: 'job', id: j.id }}>{j.id}</Link>
                </td>
                <td>{j.template ?? <span className="muted">graph</span>}</td>
                <td>
                  <StatusBadge status={j.status} />
                </td>
                <td>
                  <Progress value={j.progress} label={`progress of job ${j.id}`} />
                </td>
                <td>{when(j.createdAt)}</td>
                <td>{j.error ? <code>{j.error.code}</code> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
