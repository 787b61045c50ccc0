// One job: loaded once, then kept live from jobEvents (resumed from the last cursor after a reconnect).
import { useEffect, useRef, useState } from 'react';
import { ApiError, errorOf, request } from './api-client.js';
import { ArtifactList } from './artifact-view.js';
import { ErrorBox, Progress, StatusBadge, useSession, when } from './common.js';
import { DagView } from './dag-view.js';
import { CancelJobMutation, JobEventsSubscription, JobQuery, RetryJobMutation } from './documents.js';
import type { ConsoleJobEventsSubscription, JobDetailFragment } from './gql/graphql.js';

type Event = Omit<ConsoleJobEventsSubscription['jobEvents'], 'job'>;
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export function JobPage({ id }: { id: string }) {
  const { key, live } = useSession();
  const [job, setJob] = useState<JobDetailFragment | null | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [streamError, setStreamError] = useState<ApiError | null>(null);
  const [events, setEvents] = useState<Event[]>([]);
  const [duplicates, setDuplicates] = useState(0);
  const [epoch, setEpoch] = useState(0);
  const [confirm, setConfirm] = useState<'cancel' | 'retry' | null>(null);
  const [busy, setBusy] = useState(false);
  const lastCursor = useRef<string | undefined>(undefined);
  const seen = useRef(new Set<number>());

  useEffect(() => {
    request(key, JobQuery, { id }).then(
      (d) => setJob((cur) => cur ?? d.job),
      (e) => setError(errorOf(e)),
    );
  }, [key, id]);

  useEffect(() => {
    return live.subscribe(
      JobEventsSubscription,
      { jobId: id, after: lastCursor.current ?? null },
      {
        cursorOf: (d) => d.jobEvents.cursor,
        cursorVariable: 'after',
        next: (d) => {
          const { job: latest, ...event } = d.jobEvents;
          lastCursor.current = event.cursor;
          setStreamError(null);
          setJob(latest);
          if (seen.current.has(event.seq)) setDuplicates((n) => n + 1);
          else {
            seen.current.add(event.seq);
            setEvents((cur) => [...cur, event]);
          }
        },
        error: setStreamError,
      },
    );
  }, [live, id, epoch]);

  const act = async (what: 'cancel' | 'retry') => {
    setBusy(true);
    setError(null);
    try {
      const d =
        what === 'cancel'
          ? await request(key, CancelJobMutation, { id })
          : await request(key, RetryJobMutation, { id });
      setJob('cancelJob' in d ? d.cancelJob : d.retryJob);
      if (what === 'retry') setEpoch((n) => n + 1); // the event stream completed with the job; follow the new run
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setBusy(false);
      setConfirm(null);
    }
  };

  if (job === undefined && !error) return <p>Loading job {id}…</p>;
  if (job === null)
    return (
      <ErrorBox
        error={new ApiError('NOT_FOUND', `job ${id} does not exist (or belongs to another tenant)`)}
      />
    );
  const finished = job ? FINISHED.includes(job.status) : false;
  return (
    <section aria-labelledby="job-title" className="job-page">
      <div className="page-head">
        <h1 id="job-title">
          Job <code>{id}</code>
        </h1>
        {job ? <StatusBadge status={job.status} /> : null}
        {job ? <Progress value={job.progress} label="job progress" /> : null}
        <div className="actions">
          {job && !finished ? (
            <button type="button" className="danger" onClick={() => setConfirm('cancel')} disabled={busy}>
              Cancel job…
            </button>
          ) : null}
          {job && (job.status === 'FAILED' || job.status === 'CANCELLED') ? (
            <button type="button" onClick={() => setConfirm('retry')} disabled={busy}>
              Retry job…
            </button>
          ) : null}
        </div>
      </div>
      {confirm ? (
        <div className="confirm" role="alertdialog" aria-labelledby="confirm-text">
          <p id="confirm-text">
            {confirm === 'cancel'
              ? 'Cancel this job? Running nodes are stopped.'
              : 'Retry this job? Its unfinished nodes run again.'}
          </p>
          <button
            type="button"
            className={confirm === 'cancel' ? 'danger' : ''}
            onClick={() => void act(confirm)}
            autoFocus
            disabled={busy}
          >
            {confirm === 'cancel' ? 'Yes, cancel it' : 'Yes, retry it'}
          </button>{' '}
          <button type="button" className="secondary" onClick={() => setConfirm(null)}>
            No
          </button>
        </div>
      ) : null}
      <ErrorBox error={error} />
      <ErrorBox error={streamError} title="Live events" />
      {job ? (
        <>
          <dl className="facts">
            <dt>Template</dt>
            <dd>{job.template ?? 'graph'}</dd>
            <dt>Created</dt>
            <dd>{when(job.createdAt)}</dd>
            <dt>Started</dt>
            <dd>{when(job.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{when(job.finishedAt)}</dd>
          </dl>
          {job.error ? <ErrorBox error={job.error} title="Job error" /> : null}
          <h2>Graph</h2>
          <DagView nodes={job.nodes} />
          <h2>Nodes</h2>
          <table className="nodes">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Task</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Message</th>
                <th scope="col">Attempts</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {job.nodes.map((n) => (
                <tr key={n.id} data-node-row={n.id}>
                  <th scope="row">{n.id}</th>
                  <td>
                    {n.task}@{n.taskVersion}
                  </td>
                  <td>
                    <StatusBadge status={n.status} />
                  </td>
                  <td>
                    <Progress
                      value={n.status === 'SUCCEEDED' ? 1 : n.progress}
                      label={`progress of node ${n.id}`}
                    />
                  </td>
                  <td className="node-message">{n.message ?? ''}</td>
                  <td>{n.attempts}</td>
                  <td>{n.error ? <ErrorBox error={n.error} /> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Outputs</h2>
          {job.nodes.some((n) => n.outputs) ? (
            job.nodes
              .filter((n) => n.outputs)
              .map((n) => (
                <details key={n.id} open>
                  <summary>{n.id}</summary>
                  <pre className="json">{JSON.stringify(n.outputs, null, 2)}</pre>
                </details>
              ))
          ) : (
            <p className="empty">No outputs yet.</p>
          )}
          <h2>Artifacts</h2>
          <ArtifactList artifacts={job.artifacts} />
        </>
      ) : null}
      <h2>
        Events{' '}
        <span className="muted small">
          ({events.length} received{duplicates ? `, ${duplicates} repeated and dropped` : ''})
        </span>
      </h2>
      <ol className="events" aria-label="job events">
        {events.map((e) => (
          <li key={e.seq} data-seq={e.seq} data-type={e.type}>
            <span className="seq">#{e.seq}</span> <code>{e.type}</code>
            {e.nodeId ? <span> · {e.nodeId}</span> : null}
            {typeof e.progress === 'number' ? <span> · {Math.round(e.progress * 100)}%</span> : null}
            {e.message ? <span className="muted"> · {e.message}</span> : null}
          </li>
        ))}
      </ol>
    </section>
  );
}
