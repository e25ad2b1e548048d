import { useState } from 'preact/hooks';
import { get, post, del } from './api.js';
import { html, ts } from './util.js';
import { Confirm, ErrorBox, useLoad } from './components.js';

export function Tokens() {
  const { data, error, reload } = useLoad(() => get('/v1/tokens'), []);
  const [f, setF] = useState({ name: '', role: 'issuer', keysets: '' });
  const [created, setCreated] = useState(null);
  const [err, setErr] = useState(null);
  const [dialog, setDialog] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setErr(null);
    try {
      const keysets = f.keysets.split(',').map((s) => s.trim()).filter(Boolean);
      setCreated(await post('/v1/tokens', { name: f.name.trim(), role: f.role, keysets }));
      setF({ name: '', role: 'issuer', keysets: '' });
      reload();
    } catch (e2) { setErr(e2); }
  };
  return html`<section aria-labelledby="tokens-h">
    <h1 id="tokens-h">API tokens</h1>
    <form class="inline-form" onSubmit=${submit} aria-labelledby="newtok-h">
      <h2 id="newtok-h">Create a token</h2>
      <label class="field">Name <input name="name" required value=${f.name} onInput=${(e) => setF({ ...f, name: e.currentTarget.value })} /></label>
      <label class="field">Role <select name="role" value=${f.role} onChange=${(e) => setF({ ...f, role: e.currentTarget.value })}>
        ${['issuer', 'auditor', 'ops', 'admin', 'verifier'].map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <label class="field">Keysets (issuer; comma-separated) <input name="keysets" value=${f.keysets} onInput=${(e) => setF({ ...f, keysets: e.currentTarget.value })} /></label>
      <button type="submit" class="primary">Create token</button>
      <${ErrorBox} error=${err} />
    </form>
    ${created && html`<div class="secret" role="status" data-testid="new-token">
      <p><strong>Token "${created.name}" (${created.role}) created.</strong> Copy it now: it is shown once and keymgr keeps only its hash.</p>
      <label class="field">Secret <input readonly name="secret" value=${created.token} onFocus=${(e) => e.currentTarget.select()} /></label>
      <button type="button" onClick=${() => setCreated(null)}>I have copied it</button></div>`}
    <${ErrorBox} error=${error} />
    ${data && html`<div class="scroll" tabindex="0" role="region" aria-label="API tokens table"><table class="grid" data-testid="tokens">
      <thead><tr><th scope="col">name</th><th scope="col">id</th><th scope="col">role</th><th scope="col">keysets</th><th scope="col">created (UTC)</th><th scope="col">state</th></tr></thead>
      <tbody>${data.tokens.map((t) => html`<tr data-token=${t.name}>
        <th scope="row">${t.name}</th><td><code>${t.id}</code></td><td>${t.role}</td><td>${t.keysets.join(', ')}</td><td>${ts(t.created_at)}</td>
        <td>${t.revoked_at ? 'revoked ' + ts(t.revoked_at) : html`<button type="button" class="danger" onClick=${() => setDialog({
          title: 'Revoke token', danger: true, reasonRequired: false, description: `Token "${t.name}" stops working at once.`,
          run: () => del('/v1/tokens/' + t.id), onDone: () => { setDialog(null); reload(); } })}>Revoke…</button>`}</td></tr>`)}
      </tbody></table></div>`}
    ${dialog && html`<${Confirm} ...${dialog} onCancel=${() => setDialog(null)} />`}
  </section>`;
}
