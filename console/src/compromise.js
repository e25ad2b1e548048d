// The compromise response, as a guided procedure: choose a key, mark it compromised with a reason
// and a suspected-since time, then see what keymgr did (the key gone from the JWKS, a successor
// signing) and which tokens it signed are still valid. Every step is a ledger entry with the
// operator's identity, shown at the end.
import { useState } from 'preact/hooks';
import { get, getText, post, query } from './api.js';
import { html, can, ts, tsMs, download, toCsv, now } from './util.js';
import { ErrorBox, Pre, useLoad } from './components.js';

const COLS = ['seq', 'ts_ms', 'kid', 'jti', 'sub', 'aud', 'iat', 'exp', 'token_sha256', 'actor'];

function Outcome({ me, name, kid, since, before }) {
  const { data, error } = useLoad(async () => {
    const ks = await get('/v1/keysets/' + name);
    const jwks = JSON.parse(await getText(`/v1/keysets/${name}/jwks.json`, 'application/json'));
    // The affected tokens: admin and ops (this screen's roles) may list them; the ledger itself
    // only admin (and auditors).
    const affected = await get('/v1/audit/affected' + query({ kid, since }));
    let entries = null;
    if (can.audit(me)) entries = (await get('/v1/audit/ledger' + query({ keyset: name, limit: 10 }))).entries;
    return { ks, jwks, affected, entries };
  }, [name, kid]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p>Reading the outcome…</p>`;
  const { ks, jwks, affected, entries } = data;
  const inJwks = jwks.keys.some((k) => k.kid === kid);
  return html`<section class="panel" aria-labelledby="outcome-h" data-testid="compromise-outcome">
    <h2 id="outcome-h">What happened</h2>
    <ol class="steps">
      <li class=${inJwks ? 'bad' : 'ok'}>Key <code>${kid}</code> ${inJwks ? 'is STILL in the JWKS' : 'was removed from the JWKS'} (${jwks.keys.length} ${jwks.keys.length === 1 ? 'key' : 'keys'} published now).</li>
      <li class=${ks.active_kid && ks.active_kid !== kid ? 'ok' : 'bad'}>${ks.active_kid ? html`Successor <code>${ks.active_kid}</code> signs${before && before !== ks.active_kid && before !== kid ? '' : ''}.` : 'No key signs: rotate or investigate.'}</li>
      <li>Tokens signed by the key since ${ts(since)} that are still valid: <strong data-testid="affected-count">${affected.count}</strong>.</li>
    </ol>
    ${affected.count > 0 && html`
      <div class="toolbar">
        <button type="button" onClick=${() => download(`affected-${kid}.csv`, toCsv(affected.tokens, COLS), 'text/csv')}>Export CSV</button>
        <button type="button" onClick=${() => download(`affected-${kid}.ndjson`, affected.tokens.map((t) => JSON.stringify(t)).join('\n') + '\n', 'application/x-ndjson')}>Export NDJSON</button>
      </div>
      <div class="scroll" tabindex="0" role="region" aria-label="affected tokens"><table class="grid" data-testid="affected">
        <thead><tr><th scope="col">seq</th><th scope="col">signed (UTC)</th><th scope="col">sub</th><th scope="col">jti</th><th scope="col">expires (UTC)</th><th scope="col">caller</th></tr></thead>
        <tbody>${affected.tokens.slice(0, 200).map((t) => html`<tr><th scope="row">${t.seq}</th><td>${tsMs(t.ts_ms)}</td><td>${t.sub}</td><td><code>${t.jti}</code></td><td>${ts(t.exp)}</td><td>${t.actor}</td></tr>`)}</tbody>
      </table></div>${affected.count > 200 && html`<p>First 200 of ${affected.count}; the export has all.</p>`}`}
    ${entries && html`<h3>Recorded in the ledger</h3>
      <${Pre} label="latest ledger entries of the keyset">${entries.map((e) => `#${e.seq} ${tsMs(e.ts_ms)} ${e.kind}/${e.event} kid=${e.kid} by ${e.actor} ${e.outcome}${e.reason ? ' — ' + e.reason : ''}`).join('\n')}<//>`}
    <p><a href=${'#/keysets/' + name}>See the keyset's timeline</a></p>
  </section>`;
}

export function Compromise({ me, name: initial }) {
  const { data, error } = useLoad(() => get('/v1/keysets'), [me.id]);
  const [name, setName] = useState(initial || '');
  const ks = useLoad(() => (name ? get('/v1/keysets/' + name) : Promise.resolve(null)), [name]);
  const [kid, setKid] = useState('');
  const [since, setSince] = useState('');
  const [reason, setReason] = useState('');
  const [confirmed, setConfirmed] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  const [done, setDone] = useState(null);
  if (!can.act(me)) return html`<section><h1>Compromise response</h1><p>Marking a key compromised needs an ops or admin token.</p></section>`;
  const keys = ks.data ? ks.data.keys.filter((k) => !['compromised', 'destroyed'].includes(k.state)) : [];
  const key = keys.find((k) => k.kid === kid);
  const submit = async (e) => {
    e.preventDefault();
    setErr(null);
    if (!reason.trim()) { setErr({ message: 'A reason is required: it is recorded in the ledger with your identity.' }); return; }
    if (!confirmed) { setErr({ message: 'Tick the confirmation first.' }); return; }
    const s = since ? Math.floor(new Date(since).getTime() / 1000) : key.activate_at;
    setBusy(true);
    try {
      await post(`/v1/keysets/${name}/keys/${kid}/compromise`, { reason: reason.trim(), suspected_since: s });
      setDone({ name, kid, since: s, before: ks.data.active_kid });
    } catch (e2) { setErr(e2); }
    setBusy(false);
  };
  return html`<section aria-labelledby="cmp-h">
    <h1 id="cmp-h">Compromise response</h1>
    <${ErrorBox} error=${error} />
    ${!done && html`<form class="steps-form" onSubmit=${submit}>
      <fieldset><legend>1. Choose the key</legend>
        <label class="field">Keyset <select name="keyset" value=${name} onChange=${(e) => { setName(e.currentTarget.value); setKid(''); }}>
          <option value="">— choose —</option>
          ${data && data.keysets.map((k) => html`<option value=${k.name}>${k.name}</option>`)}</select></label>
        <label class="field">Key <select name="kid" value=${kid} onChange=${(e) => setKid(e.currentTarget.value)} disabled=${!name}>
          <option value="">— choose —</option>
          ${keys.map((k) => html`<option value=${k.kid}>${k.kid} (${k.state})</option>`)}</select></label>
      </fieldset>
      <fieldset disabled=${!key}><legend>2. Describe the compromise</legend>
        <label class="field">Reason (required) <input name="reason" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} /></label>
        <label class="field">Suspected since (default: the key's first signature, ${key ? ts(key.activate_at) : '—'}) <input type="datetime-local" name="since" value=${since} max=${new Date((now() + 60) * 1000).toISOString().slice(0, 16)} onInput=${(e) => setSince(e.currentTarget.value)} /></label>
      </fieldset>
      <fieldset disabled=${!key}><legend>3. Confirm</legend>
        <label class="check"><input type="checkbox" name="confirm" checked=${confirmed} onChange=${(e) => setConfirmed(e.currentTarget.checked)} />
          I understand: the key leaves the JWKS now, every token it signed stops verifying, and a successor signs.</label>
        <button type="submit" class="danger" disabled=${busy || !key}>Mark ${kid ? kid.slice(0, 12) : 'key'} compromised</button>
      </fieldset>
      <${ErrorBox} error=${err} />
    </form>`}
    ${done && html`<${Outcome} me=${me} ...${done} />`}
  </section>`;
}
