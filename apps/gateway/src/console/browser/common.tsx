// Small shared views: status badges with the contract's values, API errors, links, progress.
import { createContext, useContext } from 'react';
import type { LiveConnection } from './live-connection.js';
import { hrefOf, navigate, type Route } from './router.js';

export interface Session {
  key: string;
  live: LiveConnection;
}
export const SessionContext = createContext<Session | null>(null);
export const useSession = (): Session => useContext(SessionContext)!;

/** A JobStatus or NodeStatus exactly as the API sends it; the class only picks the colour. */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status.toLowerCase()}`}>{status}</span>;
}

export function ErrorBox({
  error,
  title,
}: {
  error: { code: string; message: string } | null;
  title?: string;
}) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert">
      {title ? <strong>{title}: </strong> : null}
      <code className="error-code">{error.code}</code> <span className="error-message">{error.message}</span>
    </div>
  );
}

export function Link({ to, children, className }: { to: Route; children: any; className?: string }) {
  return (
    <a
      href={hrefOf(to)}
      className={className}
      onClick={(e: any) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export function Progress({ value, label }: { value: number | null | undefined; label: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value ?? 0)) * 100);
  return (
    <span className="progress">
      <progress max={100} value={pct} aria-label={label}>
        {pct}%
      </progress>
      <span className="progress-text">{pct}%</span>
    </span>
  );
}

export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

export const bytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
