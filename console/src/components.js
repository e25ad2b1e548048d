import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './util.js';

export function ErrorBox({ error }) {
  if (!error) return null;
  const code = error.code ? html`<code>${error.code}</code> ` : '';
  return html`<div class="error" role="alert">${code}${error.message}</div>`;
}

export function Badge({ level, children }) {
  return html`<span class=${'badge badge-' + level}>${children}</span>`;
}

// Loads `fn()` when `deps` change; { data, error, loading, reload }.
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => { live = false; };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

// An action behind a confirmation: the operator states a reason (recorded in the ledger with
// their identity); `fields` adds inputs (datetime-local for times). `run(values)` does the call;
// its error is shown here with keymgr's own message and the dialog stays open.
export function Confirm({ title, description, fields = [], reasonRequired = true, confirmLabel, danger, run, onDone, onCancel }) {
  const [values, setValues] = useState(() => Object.fromEntries(fields.map((f) => [f.name, f.value || ''])));
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const first = useRef(null);
  useEffect(() => { first.current && first.current.focus(); }, []);
  const submit = async (e) => {
    e.preventDefault();
    if (reasonRequired && !reason.trim()) {
      setError({ message: 'A reason is required: it is recorded in the ledger with your identity.' });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await run({ ...values, reason: reason.trim() });
      onDone && onDone(r);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const onKey = (e) => { if (e.key === 'Escape') onCancel(); };
  return html`
    <div class="backdrop">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dlg-title" onKeyDown=${onKey}>
        <form onSubmit=${submit}>
          <h2 id="dlg-title">${title}</h2>
          ${description && html`<p>${description}</p>`}
          ${fields.map((f) => html`
            <label class="field">${f.label}
              <input type=${f.type || 'text'} name=${f.name} value=${values[f.name]} required=${!!f.required}
                onInput=${(e) => setValues({ ...values, [f.name]: e.currentTarget.value })} />
            </label>`)}
          <label class="field">Reason${reasonRequired ? ' (required)' : ''}
            <textarea name="reason" ref=${first} rows="2" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)}></textarea>
          </label>
          <${ErrorBox} error=${error} />
          <div class="buttons">
            <button type="button" onClick=${onCancel}>Cancel</button>
            <button type="submit" class=${danger ? 'danger' : 'primary'} disabled=${busy}>${confirmLabel || title}</button>
          </div>
        </form>
      </div>
    </div>`;
}

// A scrollable block of text that keyboard users can reach and scroll.
export function Pre({ label, children }) {
  return html`<pre class="pre" tabindex="0" aria-label=${label}>${children}</pre>`;
}
