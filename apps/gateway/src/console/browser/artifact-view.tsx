// Artifacts with previews: images inline at their real size, text/CSV/JSON as their first lines; every
// artifact downloadable.
import { useEffect, useState } from 'react';
import { bytes } from './common.js';
import type { JobDetailFragment } from './gql/graphql.js';

type Artifact = JobDetailFragment['artifacts'][number];
const PREVIEW_LINES = 10;
const PREVIEW_BYTES = 64 * 1024;

const isText = (t: string) => t.startsWith('text/') || t === 'application/json';

function TextPreview({ artifact }: { artifact: Artifact }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stale = false;
    fetch(artifact.downloadUrl, { headers: { range: `bytes=0-${PREVIEW_BYTES - 1}` } })
      .then(async (r) => {
        if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
        const lines = (await r.text()).split('\n').slice(0, PREVIEW_LINES);
        if (!stale) setText(lines.join('\n'));
      })
      .catch((e: Error) => !stale && setError(`preview unavailable: ${e.message}`));
    return () => void (stale = true);
  }, [artifact.id]);
  if (error) return <p className="muted">{error}</p>;
  return text === null ? (
    <p className="muted">loading preview…</p>
  ) : (
    <pre className="text-preview" aria-label={`first lines of ${artifact.name}`}>
      {text}
    </pre>
  );
}

export function ArtifactList({ artifacts }: { artifacts: Artifact[] }) {
  if (artifacts.length === 0) return <p className="empty">No artifacts yet.</p>;
  return (
    <ul className="artifacts">
      {artifacts.map((a) => (
        <li key={a.id} data-artifact-id={a.id}>
          <div className="artifact-head">
            <strong>{a.name}</strong>{' '}
            <span className="muted">
              {a.contentType} · {bytes(a.size)}
              {a.nodeId ? ` · from ${a.nodeId}` : ''}
            </span>{' '}
            <a href={a.downloadUrl} download={a.name}>
              Download
            </a>
          </div>
          <div className="muted small">
            sha256 <code>{a.sha256}</code>
          </div>
          {a.contentType.startsWith('image/') ? (
            <img src={a.downloadUrl} alt={`artifact ${a.name}`} className="real-size" />
          ) : isText(a.contentType) ? (
            <TextPreview artifact={a} />
          ) : null}
        </li>
      ))}
    </ul>
  );
}
