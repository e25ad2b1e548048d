import { useState } from 'preact/hooks';
import { get, getText, query } from './api.js';
import { html, tsMs, download } from './util.js';
import { ErrorBox, Pre, useLoad } from './components.js';

const FILTERS = ['keyset', 'kid', 'sub', 'jti', 'actor', 'outcome', 'kind'];
const toMs = (local) => (local ? new Date(local).getTime() : undefined);

function Detail({ e, onClose }) {
  const { data, error } = useLoad(() => get('/v1/audit/proof?seq=' + e.seq), [e.seq]);
  return html`<section class="panel" aria-labelledby="entry-h" data-testid="entry-detail">
    <h2 id="entry-h">Ledger entry ${e.seq} <button type="button" onClick=${onClose}>Close</button></h2>
    <${Pre} label="ledger entry">${JSON.stringify(e, null, 2)}<//>
    <h3>Inclusion proof</h3>
    ${error && html`<p>No proof yet: <${ErrorBox} error=${error} /></p>`}
    ${data && html`<p>Leaf ${data.index} of a tree of ${data.tree_size} entries; ${data.path.length} hashes on the audit path.</p>
      <${Pre} label="inclusion proof">${data.proof}<//>
      <h3>Checkpoint</h3><${Pre} label="checkpoint">${data.checkpoint}<//>`}
  </section>`;
}

export function Ledger({ params }) {
  const [f, setF] = useState(() => Object.fromEntries([...FILTERS, 'from', 'to'].map((k) => [k, params.get(k) || ''])));
  const [applied, setApplied] = useState(f);
  const [cursors, setCursors] = useState([undefined]);
  const [selected, setSelected] = useState(null);
  const [verify, setVerify] = useState(null);
  const [err, setErr] = useState(null);
  const q = { ...Object.fromEntries(FILTERS.map((k) => [k, applied[k]])), from: toMs(applied.from), to: toMs(applied.to) };
  const cursor = cursors[cursors.length - 1];
  const { data, error, loading } = useLoad(() => get('/v1/audit/ledger' + query({ ...q, limit: 50, cursor })), [JSON.stringify(q), cursor]);
  const submit = (e) => { e.preventDefault(); setApplied(f); setCursors([undefined]); setSelected(null); };
  const exp = async (format) => {
    setErr(null);
    try {
      const text = await getText('/v1/audit/export' + query({ ...q, format }));
      download('ledger.' + (format === 'csv' ? 'csv' : 'ndjson'), text, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
    } catch (e2) { setErr(e2); }
  };
  const runVerify = async () => {
    setVerify({ running: true });
    try { setVerify({ result: await get('/v1/audit/verify') }); } catch (e2) { setVerify({ error: e2 }); }
  };
  return html`<section aria-labelledby="ledger-h">
    <h1 id="ledger-h">Ledger</h1>
    <form class="filters" onSubmit=${submit} aria-label="ledger filters">
      ${FILTERS.map((k) => html`<label class="field">${k === 'actor' ? 'caller' : k} <input name=${k} value=${f[k]} onInput=${(e) => setF({ ...f, [k]: e.currentTarget.value })} /></label>`)}
      <label class="field">from <input type="datetime-local" name="from" value=${f.from} onInput=${(e) => setF({ ...f, from: e.currentTarget.value })} /></label>
      <label class="field">to <input type="datetime-local" name="to" value=${f.to} onInput=${(e) => setF({ ...f, to: e.currentTarget.value })} /></label>
      <button type="submit" class="primary">Apply filters</button>
    </form>
    <div class="toolbar">
      <button type="button" onClick=${() => exp('ndjson')}>Export NDJSON</button>
      <button type="button" onClick=${() => exp('csv')}>Export CSV</button>
      <button type="button" onClick=${runVerify}>Verify ledger</button>
    </div>
    <${ErrorBox} error=${err || error} />
    ${verify && html`<div class=${'verify ' + (verify.result ? (verify.result.ok ? 'ok' : 'bad') : '')} role="status" data-testid="verify-result">
      ${verify.running && 'Verifying the whole ledger…'}
      ${verify.error && html`<${ErrorBox} error=${verify.error} />`}
      ${verify.result && html`<strong>${verify.result.ok ? 'Ledger verified' : 'Ledger verification FAILED'}</strong>: ${verify.result.entries} entries, tree size ${verify.result.tree_size}, ${verify.result.checkpoints_checked}/${verify.result.checkpoints} checkpoints checked${verify.result.problem ? ' — ' + verify.result.problem : ''}`}
    </div>`}
    ${selected && html`<${Detail} e=${selected} onClose=${() => setSelected(null)} />`}
    ${loading && !data && html`<p>Loading…</p>`}
    ${data && html`<div class="scroll" tabindex="0" role="region" aria-label="ledger entries"><table class="grid" data-testid="ledger">
      <thead><tr><th scope="col">seq</th><th scope="col">time (UTC)</th><th scope="col">kind</th><th scope="col">event</th><th scope="col">keyset</th><th scope="col">kid</th>
        <th scope="col">caller</th><th scope="col">outcome</th><th scope="col">sub / jti</th><th scope="col">reason</th></tr></thead>
      <tbody>${data.entries.map((e) => html`<tr class=${selected && selected.seq === e.seq ? 'selected' : ''}>
        <th scope="row"><button type="button" class="link" onClick=${() => setSelected(e)} aria-label=${'details of entry ' + e.seq}>${e.seq}</button></th>
        <td>${tsMs(e.ts_ms)}</td><td>${e.kind}</td><td>${e.event}</td><td>${e.keyset}</td><td><code>${(e.kid || '').slice(0, 12)}</code></td>
        <td>${e.actor}</td><td>${e.outcome}</td><td>${e.sub || ''}${e.jti ? html` <small>${e.jti.slice(0, 12)}</small>` : ''}</td><td>${e.reason}</td></tr>`)}
      </tbody></table></div>
      <nav class="pager" aria-label="ledger pages">
        <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>← Newer</button>
        <span>page ${cursors.length}</span>
        <button type="button" disabled=${data.next_cursor === null} onClick=${() => setCursors([...cursors, data.next_cursor])}>Older →</button>
      </nav>`}
  </section>`;
}
