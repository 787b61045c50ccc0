// The API key form of the console's sign-in and the playground's key prompt (both bundles import it; esbuild
// bundles it into each). One place for how a key is asked for: a password field nobody autocompletes or
// spell-checks, and a button that is busy while the caller checks the key.
import { useState, type ReactNode } from 'react';

export interface KeyFormProps {
  /** The input's id (the label points at it). */
  inputId: string;
  submitLabel: string;
  busyLabel: string;
  hintClassName: string;
  hint: ReactNode;
  /** Shown above the label, inside the form. */
  heading?: ReactNode;
  /** Called with the trimmed key; the button stays busy until it settles. */
  onSubmit: (key: string) => Promise<void>;
  /** Shown after the hint (the caller's error). */
  children?: ReactNode;
}

export function KeyForm(props: KeyFormProps) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: any) => {
    e.preventDefault();
    setBusy(true);
    try {
      await props.onSubmit(key.trim());
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit}>
      {props.heading}
      <label htmlFor={props.inputId}>API key</label>
      <input
        id={props.inputId}
        type="password"
        autoComplete="off"
        spellCheck={false}
        placeholder="sy_…"
        value={key}
        onChange={(e: any) => setKey(e.target.value)}
        required
        autoFocus
      />
      <button type="submit" disabled={busy || !key.trim()}>
        {busy ? props.busyLabel : props.submitLabel}
      </button>
      <p className={props.hintClassName}>{props.hint}</p>
      {props.children}
    </form>
  );
}
