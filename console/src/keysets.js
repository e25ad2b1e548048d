import { useState } from 'preact/hooks';
import { get, post, usage, usageTotal } from './api.js';
import { html, can, health, nextEvent, activeKey, dur, now, relative, ts } from './util.js';
import { Badge, ErrorBox, useLoad } from './components.js';

async function loadAll(me) {
  const { keysets } = await get('/v1/keysets');
  const full = await Promise.all(keysets.map((k) => get('/v1/keysets/' + k.name)));
  let alerts = [];
  if (can.monitor(me)) {
    try { alerts = (await get('/v1/alerts?state=open&limit=1000')).alerts || []; } catch { alerts = []; }
  }
  // Whole hours: the previous one and this one, so "since HH:00" (UTC), one usage call per keyset.
  const since = Math.floor((now() - 3600) / 3600) * 3600;
  const volume = {};
  await Promise.all(full.map(async (ks) => {
    try { volume[ks.name] = usageTotal(await usage(ks.name, since)); } catch { volume[ks.name] = null; }
  }));
  return { keysets: full, alerts, volume, since };
}

function CreateKeyset({ onCreated }) {
  const [f, setF] = useState({ name: '', issuer: '', alg: 'ES256', sign_period: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name: f.name.trim(), issuer: f.issuer.trim(), alg: f.alg };
      if (f.sign_period.trim()) body.policy = { sign_period: f.sign_period.trim() };
      const ks = await post('/v1/keysets', body);
      setF({ name: '', issuer: '', alg: 'ES256', sign_period: '' });
      onCreated(ks);
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };
  return html`<form class="inline-form" onSubmit=${submit} aria-labelledby="create-h">
    <h2 id="create-h">Create a keyset</h2>
    <label class="field">Name <input name="name" value=${f.name} onInput=${set('name')} required pattern="[a-z0-9_-]+" /></label>
    <label class="field">Issuer URL <input name="issuer" value=${f.issuer} onInput=${set('issuer')} required placeholder=${location.origin + '/name'} /></label>
    <label class="field">Algorithm <select name="alg" value=${f.alg} onChange=${set('alg')}>
      ${['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'].map((a) => html`<option value=${a}>${a}</option>`)}</select></label>
    <label class="field">Sign period (optional) <input name="sign_period" value=${f.sign_period} onInput=${set('sign_period')} placeholder="e.g. 30d" /></label>
    <button type="submit" class="primary" disabled=${busy}>Create keyset</button>
    <${ErrorBox} error=${error} />
  </form>`;
}

export function Keysets({ me }) {
  const { data, error, loading, reload } = useLoad(() => loadAll(me), [me.id]);
  return html`<section aria-labelledby="keysets-h">
    <h1 id="keysets-h">Keysets</h1>
    <${ErrorBox} error=${error} />
    ${loading && !data && html`<p>Loading…</p>`}
    ${data && data.keysets.length === 0 && html`<p>No keyset${me.role === 'issuer' ? ' is bound to this token' : ' yet'}.</p>`}
    ${data && data.keysets.length > 0 && html`<div class="scroll" tabindex="0" role="region" aria-label="keysets table"><table class="grid" data-testid="keysets">
      <thead><tr><th scope="col">keyset</th><th scope="col">issuer</th><th scope="col">algorithm</th><th scope="col">health</th>
        <th scope="col">active key age</th><th scope="col">signatures since ${ts(data.since).slice(11, 16)} UTC</th><th scope="col">next scheduled event</th></tr></thead>
      <tbody>${data.keysets.map((ks) => {
        const a = activeKey(ks);
        const open = data.alerts.filter((al) => al.keyset === ks.name).length;
        const hl = health(ks, open);
        const ne = nextEvent(ks);
        return html`<tr data-keyset=${ks.name}>
          <th scope="row"><a href=${'#/keysets/' + ks.name}>${ks.name}</a></th>
          <td><code>${ks.issuer}</code></td>
          <td>${ks.alg}</td>
          <td><${Badge} level=${hl.level}>${hl.text}<//></td>
          <td>${a ? dur(now() - a.activate_at) : '—'}</td>
          <td class="num">${data.volume[ks.name] ?? '—'}</td>
          <td>${ne ? html`${relative(ne.at)}: ${ne.what}` : '—'}</td></tr>`;
      })}</tbody></table></div>`}
    ${can.act(me) && html`<${CreateKeyset} onCreated=${(ks) => { location.hash = '#/keysets/' + ks.name; reload(); }} />`}
  </section>`;
}
