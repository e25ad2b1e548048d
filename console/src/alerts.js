import { useState } from 'preact/hooks';
import { get, post, query } from './api.js';
import { html, can, tsMs } from './util.js';
import { Badge, Confirm, ErrorBox, useLoad } from './components.js';

export function Alerts({ me }) {
  const [state, setState] = useState('open');
  const { data, error, reload } = useLoad(() => get('/v1/alerts' + query({ state, limit: 200 })), [state]);
  const [dialog, setDialog] = useState(null);
  const level = (s) => (s === 'critical' ? 'bad' : s === 'warning' ? 'warn' : 'ok');
  return html`<section aria-labelledby="alerts-h">
    <h1 id="alerts-h">Alerts</h1>
    <label class="field">Show <select name="state" value=${state} onChange=${(e) => setState(e.currentTarget.value)}>
      <option value="open">open</option><option value="acknowledged">acknowledged</option><option value="all">all</option></select></label>
    <${ErrorBox} error=${error} />
    ${data && data.alerts.length === 0 && html`<p>No ${state === 'all' ? '' : state + ' '}alerts.</p>`}
    ${data && data.alerts.length > 0 && html`<div class="scroll" tabindex="0" role="region" aria-label="alerts table"><table class="grid" data-testid="alerts">
      <thead><tr><th scope="col">raised (UTC)</th><th scope="col">severity</th><th scope="col">kind</th><th scope="col">keyset / key</th><th scope="col">summary</th><th scope="col">seen</th><th scope="col">state</th></tr></thead>
      <tbody>${data.alerts.map((a) => html`<tr>
        <td>${tsMs(a.raised_at_ms)}</td><td><${Badge} level=${level(a.severity)}>${a.severity}<//></td><td>${a.kind}</td>
        <td><a href=${'#/keysets/' + a.keyset}>${a.keyset}</a> <code>${(a.kid || '').slice(0, 12)}</code></td><td>${a.summary}</td><td class="num">${a.occurrences}</td>
        <td>${a.acknowledged ? html`acknowledged by ${a.acknowledgement.by}: ${a.acknowledgement.reason}`
          : can.act(me) ? html`<button type="button" onClick=${() => setDialog({
              title: 'Acknowledge alert', description: a.summary,
              run: (v) => post(`/v1/alerts/${a.id}/ack`, { reason: v.reason }),
              onDone: () => { setDialog(null); reload(); } })}>Acknowledge…</button>` : 'open'}</td></tr>`)}
      </tbody></table></div>`}
    ${dialog && html`<${Confirm} ...${dialog} onCancel=${() => setDialog(null)} />`}
  </section>`;
}
