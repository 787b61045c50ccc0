// One job: loaded once, then kept live from jobEvents (resumed from the last cursor after a reconnect). The events
// carry no job: a progress event moves its node's bar and message at once, and the job's detail (statuses,
// outputs, artifacts) is read again with one job query per burst of events, soon after a change of state and at
// most once a second for progress. Each event used to carry the whole job: opening a 200-node job replayed its 400
// events, each with 200 nodes (≈ 30 MB, seconds of server CPU).
import { useEffect, useRef, useState } from 'react';
import { ApiError, errorOf, request } from './api-client.js';
import { ArtifactList } from './artifact-view.js';
import { ErrorBox, Progress, StatusBadge, useSession, when } from './common.js';
import { DagView } from './dag-view.js';
import { CancelJobMutation, JobEventsSubscription, JobQuery, RetryJobMutation } from './documents.js';
import type { ConsoleJobEventsSubscription, JobDetailFragment } from './gql/graphql.js';

type Event = ConsoleJobEventsSubscription['jobEvents'];
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
/** How soon the job's detail is read again after an event: a state change, and progress or a log line. */
const REFRESH_AFTER_CHANGE_MS = 200;
const REFRESH_AFTER_PROGRESS_MS = 1000;
const PROGRESS_ONLY: ReadonlySet<string> = new Set(['NODE_PROGRESS', 'LOG']);

/** The job with a progress event's node moved on (the detail read that follows brings the rest). */
function withProgress(job: JobDetailFragment, event: Event): JobDetailFragment {
  if (event.type !== 'NODE_PROGRESS' || !event.nodeId) return job;
  return {
    ...job,
    nodes: job.nodes.map((n) =>
      n.id === event.nodeId
        ? { ...n, progress: event.progress ?? n.progress, message: event.message ?? n.message }
        : n,
    ),
  };
}

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
  const refresh = useRef<{
    timer?: ReturnType<typeof setTimeout>;
    due: number;
    started: number;
    applied: number;
  }>({ due: 0, started: 0, applied: 0 });

  /** Reads the job's detail; an answer older than one already shown is dropped. */
  const load = (initial: boolean) => {
    const n = ++refresh.current.started;
    request(key, JobQuery, { id }).then(
      (d) => {
        if (n < refresh.current.applied) return;
        refresh.current.applied = n;
        setJob((cur) => (initial ? (cur ?? d.job) : d.job));
      },
      (e) => (initial ? setError(errorOf(e)) : setStreamError(errorOf(e))),
    );
  };

  useEffect(() => {
    load(true);
    const r = refresh.current;
    return () => clearTimeout(r.timer);
  }, [key, id]);

  useEffect(() => {
    return live.subscribe(
      JobEventsSubscription,
      { jobId: id, after: lastCursor.current ?? null },
      {
        cursorOf: (d) => d.jobEvents.cursor,
        cursorVariable: 'after',
        next: (d) => {
          const event = d.jobEvents;
          lastCursor.current = event.cursor;
          setStreamError(null);
          setJob((cur) => (cur ? withProgress(cur, event) : cur));
          // one read of the detail per burst, no later than this event's kind asks
          const r = refresh.current;
          const due =
            Date.now() +
            (PROGRESS_ONLY.has(event.type) ? REFRESH_AFTER_PROGRESS_MS : REFRESH_AFTER_CHANGE_MS);
          if (r.timer === undefined || due < r.due) {
            clearTimeout(r.timer);
            r.due = due;
            r.timer = setTimeout(() => {
              r.timer = undefined;
              load(false);
            }, due - Date.now());
          }
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
