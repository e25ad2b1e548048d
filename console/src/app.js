// keymgr console: the shell (sign-in, navigation by role, hash routes) around the screens.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, session, ApiError } from './api.js';
import { html, can } from './util.js';
import { ErrorBox } from './components.js';
import { Keysets } from './keysets.js';
import { Keyset } from './keyset.js';
import { Ledger } from './ledger.js';
import { Compromise } from './compromise.js';
import { Alerts } from './alerts.js';
import { Tokens } from './tokens.js';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn({ onSignedIn, error: initial }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(initial);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    session.set(token.trim());
    try {
      onSignedIn(await get('/v1/whoami'));
    } catch (err) {
      session.clear();
      setError(err);
      setBusy(false);
    }
  };
  return html`<main id="main" class="signin">
    <h1>keymgr console</h1>
    <form onSubmit=${submit} aria-labelledby="signin-h">
      <h2 id="signin-h">Sign in</h2>
      <p>Paste an API token (<code>km_…</code>). It is kept in this tab only (sessionStorage) until you sign out or close the tab.</p>
      <label class="field">API token <input type="password" name="token" autocomplete="off" spellcheck="false" required value=${token} onInput=${(e) => setToken(e.currentTarget.value)} /></label>
      <button type="submit" class="primary" disabled=${busy}>Sign in</button>
      <${ErrorBox} error=${error} />
    </form>
  </main>`;
}

function route(hash) {
  const [path, qs] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  return { parts, params: new URLSearchParams(qs || '') };
}

function Nav({ me, current, onSignOut }) {
  const items = [['keysets', 'Keysets', true], ['ledger', 'Ledger', can.audit(me)], ['compromise', 'Compromise response', can.act(me)],
    ['alerts', 'Alerts', can.monitor(me)], ['tokens', 'API tokens', can.admin(me)]];
  return html`<header class="top">
    <a class="brand" href="#/keysets">keymgr</a>
    <nav aria-label="screens"><ul>${items.filter((i) => i[2]).map(([id, label]) => html`<li>
      <a href=${'#/' + id} aria-current=${current === id ? 'page' : undefined}>${label}</a></li>`)}</ul></nav>
    <span class="who" data-testid="who">${me.name} <span class="role">${me.role}</span></span>
    <button type="button" onClick=${onSignOut}>Sign out</button>
  </header>`;
}

function App() {
  const hash = useHash();
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  const [checking, setChecking] = useState(!!session.token());
  useEffect(() => {
    if (!session.token()) return;
    get('/v1/whoami').then(setMe, (e) => {
      if (e instanceof ApiError && e.status === 401) session.clear();
      setError(e);
    }).finally(() => setChecking(false));
  }, []);
  const signOut = () => { session.clear(); setMe(null); setError(null); location.hash = ''; };
  if (checking) return html`<main id="main"><p>Signing in…</p></main>`;
  if (!me) return html`<${SignIn} error=${error} onSignedIn=${(m) => { setMe(m); if (!location.hash) location.hash = '#/keysets'; }} />`;
  const { parts, params } = route(hash);
  const screen = parts[0] || 'keysets';
  let body;
  if (screen === 'keysets' && parts[1]) body = html`<${Keyset} me=${me} name=${parts[1]} key=${parts[1]} />`;
  else if (screen === 'ledger' && can.audit(me)) body = html`<${Ledger} me=${me} params=${params} />`;
  else if (screen === 'compromise') body = html`<${Compromise} me=${me} name=${parts[1]} key=${parts[1] || ''} />`;
  else if (screen === 'alerts' && can.monitor(me)) body = html`<${Alerts} me=${me} />`;
  else if (screen === 'tokens' && can.admin(me)) body = html`<${Tokens} me=${me} />`;
  else body = html`<${Keysets} me=${me} />`;
  return html`<${Nav} me=${me} current=${screen} onSignOut=${signOut} />
    <main id="main">${body}</main>
    <footer class="foot">Signed in as ${me.name} (${me.role})${me.keysets.length ? ' for ' + me.keysets.join(', ') : ''}. Every action is recorded in the ledger under this token.</footer>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
