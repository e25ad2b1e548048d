// The key timeline: one horizontal lane per key over time, as SVG (no inline style: classes only,
// so the console's CSP needs no 'unsafe-inline').
import { useState } from 'preact/hooks';
import { usage } from './api.js';
import { html, dur, ts, now } from './util.js';
import { ErrorBox, useLoad } from './components.js';

const LANE = 34;
const TOP = 40;
const LEFT = 150;
const WIDTH = 1000;
const HOUR = 3600;
const VOL_ROW = 24;  // one row of hourly bars per key that signed in the visible range
const MAX_HOURS = 9600;  // what GET /usage answers at most

// The whole hours that cover [t0, t1] up to the end of the current hour (nothing is signed later).
function usageRange(t0, t1) {
  const to = Math.min(Math.ceil(t1 / HOUR), Math.floor(now() / HOUR) + 1) * HOUR;
  const from = Math.max(Math.floor(t0 / HOUR) * HOUR, to - MAX_HOURS * HOUR, 0);
  return [from, to];
}

export function range(ks) {
  const t = now();
  const keys = ks.keys || [];
  let start = Math.min(t, ...keys.map((k) => k.created_at));
  let end = t + Math.max(ks.policy.sign_period || 3600, ks.policy.verifier_cache || 0) / 2;
  for (const k of keys) {
    if (k.state === 'destroyed') continue;
    end = Math.max(end, k.retire_at || 0);
  }
  const pad = (end - start) * 0.04 || 60;
  return [start - pad, end + pad];
}

// The policy number a segment stands for, written inside it when it is wide enough.
function segLabel(c, p) {
  if (c === 'seg-pre') return 'prepublish ' + dur(p.prepublish);
  if (c === 'seg-sign') return 'signing · period ' + dur(p.sign_period);
  if (c === 'seg-grace') return 'grace ' + dur(p.verify_grace);
  return 'retired · destroy after ' + dur(p.destroy_after);
}

function segments(k) {
  // [from, to, class, label]; a compromised key stops being anything at its compromise.
  const stop = k.state === 'compromised' ? k.state_changed_at : Infinity;
  const s = [
    [k.created_at, k.activate_at, 'seg-pre', 'pre-publication'],
    [k.activate_at, k.deactivate_at, 'seg-sign', 'signing window'],
    [k.deactivate_at, k.retire_at, 'seg-grace', 'verification grace'],
    [k.retire_at, k.destroy_at, 'seg-retired', 'retired (not published)'],
  ];
  return s
    .map(([a, b, c, l]) => [a, Math.min(b, stop), c, l])
    .filter(([a, b]) => b > a);
}

// The visible span: the keys' whole life, or a window around now (a compromise or a rotation of
// a few seconds is a sliver on a 30-day scale).
const SPANS = [['life', 'whole life'], ['week', '±3 days'], ['day', '±12 hours'], ['hour', '±1 hour']];
const HALF = { week: 3 * 86400, day: 12 * 3600, hour: 3600 };

export function Timeline({ ks }) {
  const [span, setSpan] = useState('life');
  const keys = [...(ks.keys || [])].sort((a, b) => a.created_at - b.created_at);
  const [t0, t1] = span === 'life' ? range(ks) : [now() - HALF[span], now() + HALF[span]];
  const [uFrom, uTo] = usageRange(t0, t1);
  const vol = useLoad(() => usage(ks.name, uFrom, uTo), [ks, uFrom, uTo]);
  const x = (t) => LEFT + ((Math.max(t0, Math.min(t1, t)) - t0) / (t1 - t0)) * (WIDTH - LEFT - 10);
  const t = now();
  // Per key: its hourly buckets inside the visible range and their sum.
  const inView = (hh) => hh.hour + HOUR > t0 && hh.hour < t1;
  const volKeys = vol.data ? keys.map((k) => {
    const u = vol.data.keys.find((v) => v.kid === k.kid);
    const hours = u ? u.hours.filter(inView) : [];
    return { k, hours, sum: hours.reduce((a, hh) => a + hh.signatures, 0) };
  }).filter((v) => v.sum > 0) : [];
  const maxHour = Math.max(1, ...volKeys.flatMap((v) => v.hours.map((hh) => hh.signatures)));
  const volTop = TOP + keys.length * LANE + 6;
  const volHeight = vol.data ? 20 + Math.max(1, volKeys.length) * VOL_ROW : 0;
  const height = TOP + keys.length * LANE + volHeight + 46;
  const p = ks.policy;
  const active = keys.find((k) => k.kid === ks.active_kid);
  const ticks = [];
  for (let i = 0; i <= 4; i++) ticks.push(t0 + ((t1 - t0) * i) / 4);
  const label = `Key timeline of ${ks.name}: ${keys.length} keys; ` +
    keys.map((k) => `${k.kid} ${k.state}, signs ${ts(k.activate_at)} to ${ts(k.deactivate_at)}, ${k.signatures ?? 0} signatures in all`).join('; ') +
    (vol.data ? '. Signatures in the range shown: ' + (volKeys.length ? volKeys.map((v) => `${v.k.kid} ${v.sum}`).join(', ') : 'none') : '');
  return html`
    <fieldset class="span-picker"><legend>Time range</legend>
      ${SPANS.map(([id, label]) => html`<label><input type="radio" name="span" value=${id} checked=${span === id} onChange=${() => setSpan(id)} /> ${label}</label>`)}
    </fieldset>
    <figure class="timeline">
      <svg viewBox=${`0 0 ${WIDTH} ${height}`} role="img" aria-label=${label} data-testid="timeline">
        ${ticks.map((v, i) => html`<g>
          <line class="tick" x1=${x(v)} x2=${x(v)} y1=${TOP - 8} y2=${height - 40} />
          <text class="axis" x=${x(v)} y=${height - 26} text-anchor=${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}>${ts(Math.round(v)).slice(5, 16)}</text></g>`)}
        ${keys.map((k, i) => {
          const y = TOP + i * LANE;
          return html`<g class=${'lane state-' + k.state} data-kid=${k.kid}>
            <text class="kid" x="4" y=${y + 17}>${k.kid.slice(0, 12)}${k.kid === ks.active_kid ? ' ★' : ''}</text>
            <text class="kstate" x="4" y=${y + 29}>${k.state}${k.signatures !== undefined ? ` · ${k.signatures} signed` : ''}<title>${k.signatures ?? 0} signatures in all, ${k.last_signed_at ? 'last ' + ts(k.last_signed_at) : 'never signed'}</title></text>
            ${segments(k).filter(([a, b]) => b > t0 && a < t1).map(([a, b, c, l]) => html`<rect class=${c} x=${x(a)} y=${y + 6} width=${Math.max(1, x(b) - x(a))} height="20" rx="3"><title>${l}: ${ts(a)} → ${ts(b)}</title></rect>
              ${x(b) - x(a) > segLabel(c, p).length * 6.2 + 8 && html`<text class=${'seg-text ' + c + '-t'} x=${x(a) + 4} y=${y + 20}>${segLabel(c, p)}</text>`}`)}
            ${k.compromised_since && html`<rect class="seg-exposed" x=${x(k.compromised_since)} y=${y + 2} width=${Math.max(2, x(k.state_changed_at) - x(k.compromised_since))} height="4"><title>suspected exposure since ${ts(k.compromised_since)}</title></rect>`}
            ${k.state === 'compromised' && html`<g><line class="mark-compromise" x1=${x(k.state_changed_at)} x2=${x(k.state_changed_at)} y1=${y + 2} y2=${y + 30} /><text class="mark-text bad" x=${x(k.state_changed_at) + 4} y=${y + 17}>compromised</text></g>`}
            ${k.state === 'suspended' && html`<text class="mark-text warn" x=${x(k.state_changed_at) + 4} y=${y + 17}>suspended</text>`}
            ${k.state === 'destroyed' && html`<text class="mark-text" x=${x(k.destroy_at) + 4} y=${y + 17}>destroyed</text>`}
          </g>`;
        })}
        <line class="now" x1=${x(t)} x2=${x(t)} y1=${TOP - 16} y2=${height - 40} />
        <text class="now-label" x=${x(t)} y=${TOP - 20} text-anchor="middle">now</text>
        ${vol.data && html`<g class="vol" data-testid="volume-bars">
          <text class="vol-head" x="4" y=${volTop + 12}>signatures / hour<title>hourly signatures per key; the tallest bar is ${maxHour}</title></text>
          ${volKeys.length > 0 && html`<text class="axis" x=${LEFT} y=${volTop + 12}>tallest bar: ${maxHour} in an hour</text>`}
          ${volKeys.length === 0 && html`<text class="kstate" x=${LEFT} y=${volTop + 12 + VOL_ROW * 0.7}>no signatures in the range shown</text>`}
          ${volKeys.map((v, i) => {
            const y = volTop + 20 + i * VOL_ROW;
            return html`<g class="vol-row" data-kid=${v.k.kid}>
              <text class="vol-label" x="4" y=${y + 15}>${v.k.kid.slice(0, 10)}: ${v.sum}</text>
              <line class="vol-base" x1=${LEFT} x2=${WIDTH - 10} y1=${y + VOL_ROW - 3} y2=${y + VOL_ROW - 3} />
              ${v.hours.map((hh) => {
                const bh = Math.max(2, (hh.signatures / maxHour) * (VOL_ROW - 6));
                return html`<rect class="bar" x=${x(hh.hour)} y=${y + VOL_ROW - 3 - bh} width=${Math.max(3, x(hh.hour + HOUR) - x(hh.hour) - 1)} height=${bh}><title>${ts(hh.hour).slice(0, 16)}–${ts(hh.hour + HOUR).slice(11, 16)} UTC: ${hh.signatures} signatures</title></rect>`;
              })}</g>`;
          })}</g>`}
        ${active && active.deactivate_at > t && active.deactivate_at > t1 && html`<text class="next-label" x=${WIDTH - 12} y=${TOP - 26} text-anchor="end">next rotation ${ts(active.deactivate_at).slice(5, 16)} →</text>`}
        ${active && active.deactivate_at > t && active.deactivate_at <= t1 && html`<g>
          <line class="next" x1=${x(active.deactivate_at)} x2=${x(active.deactivate_at)} y1=${TOP - 16} y2=${height - 40} />
          <text class="next-label" x=${x(active.deactivate_at)} y=${TOP - 26} text-anchor=${x(active.deactivate_at) > WIDTH - 120 ? 'end' : 'middle'}>next rotation ${ts(active.deactivate_at).slice(5, 16)}</text></g>`}
        <g class="policy">
          <line class="bracket" x1=${x(t)} x2=${x(t + p.verifier_cache)} y1=${height - 12} y2=${height - 12} />
          <text class="axis" x=${x(t)} y=${height - 2}>now + verifier cache ${dur(p.verifier_cache)}</text>
        </g>
      </svg>
      <figcaption>
        <span class="legend seg-pre-l">pre-publication (prepublish ${dur(p.prepublish)})</span>
        <span class="legend seg-sign-l">signing window (sign period ${dur(p.sign_period)})</span>
        <span class="legend seg-grace-l">verification grace (${dur(p.verify_grace)})</span>
        <span class="legend seg-retired-l">retired (destroyed after ${dur(p.destroy_after)})</span>
        <span class="legend">verifier cache ${dur(p.verifier_cache)} · JWKS max-age ${dur(p.jwks_max_age)} · max token TTL ${dur(p.max_token_ttl)}</span>
      </figcaption>
    </figure>
    <${ErrorBox} error=${vol.error} />
    ${vol.data && html`<${Volume} keys=${keys} volKeys=${volKeys} from=${Math.max(t0, uFrom)} to=${Math.min(t1, t)} />`}`;
}

// The numbers behind the bars: per key, its signatures in the range shown, in all, and the last one.
function Volume({ keys, volKeys, from, to }) {
  const rows = keys.filter((k) => k.signatures || volKeys.some((v) => v.k.kid === k.kid));
  if (rows.length === 0) return html`<p>No key of this keyset has signed yet.</p>`;
  return html`<table class="grid volume">
    <caption>Signatures per key, ${ts(Math.round(from)).slice(0, 16)} to ${ts(Math.round(to)).slice(0, 16)} UTC (the timeline's range, whole hours) and in all</caption>
    <thead><tr><th scope="col">key</th><th scope="col">state</th><th scope="col">in the range shown</th><th scope="col">in all</th><th scope="col">last signed</th></tr></thead>
    <tbody>${[...rows].reverse().map((k) => {
      const v = volKeys.find((x) => x.k.kid === k.kid);
      return html`<tr data-kid=${k.kid}>
        <th scope="row"><code title=${k.kid}>${k.kid.slice(0, 16)}</code></th>
        <td>${k.state}</td>
        <td class="num" data-testid="volume-count">${v ? v.sum : 0}</td>
        <td class="num" data-testid="volume-total">${k.signatures ?? '—'}</td>
        <td>${k.last_signed_at ? ts(k.last_signed_at) : '—'}</td></tr>`;
    })}</tbody></table>`;
}
