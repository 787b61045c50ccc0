// rjsf widget for an artifact-id field: pick a file, it is checked, hashed, uploaded, and the field gets
// the new artifact's id.
import { useState } from 'react';
import { ApiError, errorOf } from './api-client.js';
import { bytes, ErrorBox, Progress, useSession } from './common.js';
import { acceptFor, precheck, uploadFile, type UploadPhase } from './upload.js';

const phaseText = (p: UploadPhase) =>
  p.phase === 'hashing'
    ? 'computing sha256'
    : p.phase === 'reserving'
      ? 'asking the API for an upload ticket'
      : p.phase === 'uploading'
        ? 'uploading'
        : 'completing';

export function UploadWidget(props: any) {
  const { id, value, onChange, schema, disabled, readonly, required } = props;
  const { key } = useSession();
  const accept = acceptFor(schema);
  const [phase, setPhase] = useState<UploadPhase | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<{ name: string; size: number; sha256: string; id: string } | null>(null);

  const pick = async (file: File | undefined) => {
    setError(null);
    setDone(null);
    onChange(undefined);
    if (!file) return;
    const refused = precheck(file, accept);
    if (refused) return setError(refused);
    try {
      const artifact = await uploadFile(key, file, setPhase);
      setDone({ name: file.name, size: artifact.size, sha256: artifact.sha256, id: artifact.id });
      onChange(artifact.id);
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setPhase(null);
    }
  };

  return (
    <div className="upload">
      <input
        id={id}
        type="file"
        accept={accept ?? undefined}
        disabled={disabled || readonly || phase !== null}
        required={required && !value}
        aria-describedby={`${id}-upload-status`}
        onChange={(e) => void pick(e.target.files?.[0])}
      />
      <div id={`${id}-upload-status`} className="upload-status" aria-live="polite">
        {phase ? (
          <div data-phase={phase.phase}>
            {phaseText(phase)}{' '}
            {'fraction' in phase ? <Progress value={phase.fraction} label={phaseText(phase)} /> : null}
            {'sha256' in phase ? (
              <div className="small">
                sha256 <code>{phase.sha256}</code>
              </div>
            ) : null}
          </div>
        ) : null}
        {done ? (
          <div className="upload-done">
            Uploaded {done.name} ({bytes(done.size)}) as artifact{' '}
            <code data-artifact-id={done.id}>{done.id}</code>
            <div className="small">
              sha256 <code className="sha256">{done.sha256}</code>
            </div>
          </div>
        ) : value ? (
          <div className="small">
            artifact <code>{value}</code>
          </div>
        ) : null}
        <ErrorBox error={error} title="Upload refused" />
        {accept ? (
          <div className="small muted">
            Accepts {accept.split(',').join(', ')}; the API checks type and size before any byte is sent.
          </div>
        ) : null}
      </div>
    </div>
  );
}
