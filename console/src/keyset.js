import { useState } from 'preact/hooks';
import { get, post, getText } from './api.js';
import { html, can, health, ts, dur, now, relative } from './util.js';
import { Badge, Confirm, ErrorBox, Pre, useLoad } from './components.js';
import { Timeline } from './timeline.js';

const toUnix = (local) => (local ? Math.floor(new Date(local).getTime() / 1000) : undefined);
const localInput = (sec) => new Date((sec - new Date().getTimezoneOffset() * 60) * 1000).toISOString().slice(0, 16);

// The actions an operator can take, each behind a confirmation with a reason.
export function keyActions(ks) {
  const base = '/v1/keysets/' + ks.name;
  return {
    rotate: { title: 'Rotate now', description: `The pre-published successor of ${ks.name} starts signing now (or a new key is made).`, run: (v) => post(base + '/rotate', { reason: v.reason }) },
    emergency: { title: 'Emergency rotate', danger: true, description: 'A new key is generated and signs at once, without pre-publication: verifiers that cached the JWKS will reject its tokens until they refetch.', run: (v) => post(base + '/emergency-rotate', { reason: v.reason }) },
    suspend: (k) => ({ title: 'Suspend key', description: `Key ${k.kid} stops signing; it stays in the JWKS.`, run: (v) => post(`${base}/keys/${k.kid}/suspend`, { reason: v.reason }) }),
    resume: (k) => ({ title: 'Resume key', description: `Key ${k.kid} signs again.`, run: (v) => post(`${base}/keys/${k.kid}/resume`, { reason: v.reason }) }),
    compromise: (k) => ({
      title: 'Mark key compromised', danger: true,
      description: `Key ${k.kid} leaves the JWKS at once (tokens it signed no longer verify) and a successor signs.`,
      fields: [{ name: 'since', label: 'Suspected since', type: 'datetime-local', value: localInput(k.activate_at) }],
      run: (v) => post(`${base}/keys/${k.kid}/compromise`, { reason: v.reason, suspected_since: toUnix(v.since) }),
    }),
    extend: (k) => ({
      title: 'Extend signing window', description: `Key ${k.kid} signs until the given time.`,
      fields: [{ name: 'until', label: 'Sign until', type: 'datetime-local', required: true, value: localInput(Math.max(k.deactivate_at, now()) + 86400) }],
      run: (v) => post(`${base}/keys/${k.kid}/extend`, { reason: v.reason, until: toUnix(v.until) }),
    }),
  };
}

async function load(name, me) {
  const ks = await get('/v1/keysets/' + name);
  let jwks = null;
  try { jwks = JSON.parse(await getText(`/v1/keysets/${name}/jwks.json`, 'application/json')); } catch { jwks = null; }
  return { ks, jwks };
}

export function Keyset({ me, name }) {
  const { data, error, reload } = useLoad(() => load(name, me), [name, me.id]);
  const [dialog, setDialog] = useState(null);
  const [notice, setNotice] = useState('');
  if (error) return html`<section><h1>Keyset ${name}</h1><${ErrorBox} error=${error} /></section>`;
  if (!data) return html`<section><h1>Keyset ${name}</h1><p>Loading…</p></section>`;
  const { ks, jwks } = data;
  const acts = keyActions(ks);
  const hl = health(ks, 0);
  const open = (spec, what) => setDialog({ ...spec, onDone: () => { setDialog(null); setNotice(what + ' done'); reload(); } });
  const act = can.act(me);
  return html`<section aria-labelledby="ks-h">
    <h1 id="ks-h">Keyset ${ks.name} <${Badge} level=${hl.level}>${hl.text}<//></h1>
    <p class="meta">issuer <code>${ks.issuer}</code> · ${ks.alg} · JWKS <a href=${new URL(ks.jwks_uri).pathname}>${ks.jwks_uri}</a>
      ${ks.health.last_error && html` · last error: ${ks.health.last_error}`}</p>
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    ${act && html`<div class="toolbar" aria-label="keyset actions">
      <button type="button" onClick=${() => open(acts.rotate, 'Rotation')}>Rotate now…</button>
      <button type="button" class="danger" onClick=${() => open(acts.emergency, 'Emergency rotation')}>Emergency rotate…</button>
      <a class="button" href=${'#/compromise/' + ks.name}>Compromise response…</a>
    </div>`}
    <h2>Key timeline</h2>
    <${Timeline} ks=${ks} />
    <h2>Keys</h2>
    <div class="scroll" tabindex="0" role="region" aria-label="keys table"><table class="grid" data-testid="keys">
      <thead><tr><th scope="col">kid</th><th scope="col">state</th><th scope="col">created</th><th scope="col">signs from</th><th scope="col">signs until</th>
        <th scope="col">leaves JWKS</th><th scope="col">destroyed</th><th scope="col">signatures</th>${act && html`<th scope="col">actions</th>`}</tr></thead>
      <tbody>${[...ks.keys].reverse().map((k) => html`<tr data-kid=${k.kid} class=${'state-' + k.state}>
        <th scope="row"><code title=${k.kid}>${k.kid.length > 20 ? k.kid.slice(0, 20) + '…' : k.kid}</code>${k.kid === ks.active_kid ? ' (signing)' : ''}${k.emergency ? ' (emergency)' : ''}</th>
        <td>${k.state}${k.compromised_since ? html`<br /><small>suspected since ${ts(k.compromised_since)}</small>` : ''}</td>
        <td>${ts(k.created_at)}</td><td>${ts(k.activate_at)}</td><td>${ts(k.deactivate_at)} <small>(${relative(k.deactivate_at)})</small></td>
        <td>${ts(k.retire_at)}</td><td>${ts(k.destroy_at)}</td>
        <td class="num"><span data-testid="key-signatures">${k.signatures !== undefined ? k.signatures : '—'}</span><br /><small>${k.last_signed_at ? 'last ' + ts(k.last_signed_at) : 'never signed'}</small></td>
        ${act && html`<td class="actions">
          ${k.state === 'active' && html`<button type="button" onClick=${() => open(acts.suspend(k), 'Suspension')}>Suspend…</button>`}
          ${k.state === 'suspended' && html`<button type="button" onClick=${() => open(acts.resume(k), 'Resume')}>Resume…</button>`}
          ${['active', 'deactivated', 'retired'].includes(k.state) && html`<button type="button" onClick=${() => open(acts.extend(k), 'Extension')}>Extend…</button>`}
          ${['pre-activation', 'active', 'suspended', 'deactivated', 'retired'].includes(k.state) && html`<button type="button" class="danger" onClick=${() => open(acts.compromise(k), 'Compromise')}>Compromise…</button>`}
        </td>`}
      </tr>`)}</tbody></table></div>
    <h2>Policy</h2>
    <dl class="policy-list">${Object.entries(ks.policy).map(([k, v]) => html`<div><dt>${k}</dt><dd>${/^(sign_rate|sign_burst|max_signatures)$/.test(k) ? v : dur(v)}</dd></div>`)}</dl>
    <h2>JWKS as verifiers see it</h2>
    ${jwks ? html`<p>${jwks.keys.length} keys published: ${jwks.keys.map((k) => html`<code class="kid-chip">${k.kid}</code> `)}</p>
      <${Pre} label="JWKS document">${JSON.stringify(jwks, null, 2)}<//>` : html`<p>The JWKS could not be read.</p>`}
    ${dialog && html`<${Confirm} ...${dialog} onCancel=${() => setDialog(null)} />`}
  </section>`;
}
