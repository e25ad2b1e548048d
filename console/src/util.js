import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

export const now = () => Math.floor(Date.now() / 1000);

// 90061 → "1d 1h"; negative values read as "-…".
export function dur(s) {
  if (s === undefined || s === null || Number.isNaN(s)) return '—';
  const neg = s < 0;
  s = Math.abs(Math.round(s));
  const parts = [];
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  for (const [u, n] of units) {
    if (s >= n || (u === 's' && parts.length === 0)) {
      parts.push(Math.floor(s / n) + u);
      s %= n;
    }
    if (parts.length === 2) break;
  }
  return (neg ? '-' : '') + parts.join(' ');
}

export function ts(sec) {
  if (!sec) return '—';
  return new Date(sec * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
export const tsMs = (ms) => (ms ? ts(Math.floor(ms / 1000)) : '—');

export function relative(sec) {
  if (!sec) return '—';
  const d = sec - now();
  return d >= 0 ? 'in ' + dur(d) : dur(-d) + ' ago';
}

// Saves `text` as a file (a Blob, so the token never lands in a URL).
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function toCsv(rows, cols) {
  const cell = (v) => {
    const s = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

export const can = {
  act: (me) => me.role === 'admin' || me.role === 'ops',
  audit: (me) => me.role === 'admin' || me.role === 'auditor',
  monitor: (me) => me.role === 'admin' || me.role === 'ops' || me.role === 'auditor',
  admin: (me) => me.role === 'admin',
};

export function activeKey(ks) {
  return (ks.keys || []).find((k) => k.kid === ks.active_kid);
}

// The keyset's health in one word, worst first.
export function health(ks, openAlerts) {
  const keys = ks.keys || [];
  const t = now();
  if (keys.some((k) => k.state === 'compromised' && k.state_changed_at > t - 30 * 86400)) return { level: 'bad', text: 'compromised key' };
  if (ks.health && ks.health.overdue) return { level: 'bad', text: 'rotation overdue' };
  if (ks.health && ks.health.problem) return { level: 'bad', text: ks.health.problem };
  if (openAlerts > 0) return { level: 'warn', text: openAlerts + (openAlerts === 1 ? ' alert' : ' alerts') };
  if (ks.disabled) return { level: 'warn', text: 'disabled' };
  const a = activeKey(ks);
  if (!a) return { level: 'bad', text: 'no signing key' };
  const hasSuccessor = keys.some((k) => k.state === 'pre-activation');
  const lead = (ks.policy.prepublish || 0) + (ks.policy.rotation_lead || 0);
  if (!hasSuccessor && a.deactivate_at - t < lead) return { level: 'warn', text: 'rotation due' };
  return { level: 'ok', text: 'OK' };
}

// The soonest future lifecycle time of any key.
export function nextEvent(ks) {
  const t = now();
  let best = null;
  const names = { activate_at: 'activates', deactivate_at: 'stops signing', retire_at: 'leaves JWKS', destroy_at: 'destroyed' };
  for (const k of ks.keys || []) {
    if (k.state === 'destroyed' || k.state === 'compromised') continue;
    for (const f of Object.keys(names)) {
      if (k[f] > t && (!best || k[f] < best.at)) best = { at: k[f], what: `${k.kid.slice(0, 8)}… ${names[f]}` };
    }
  }
  return best;
}
