// bench/run.sh section "peer" (issue 14): oidc-provider (panva/node-oidc-provider, pinned in
// package.json / package-lock.json) minting ES256 JWT access tokens through the client-credentials
// grant, as the peer baseline for keymgr's POST /v1/keysets/{es256}/sign.
//
//   PEER_PORT=18483 PEER_WORKERS=2 node server.js
//   curl -s -u bench-client:bench-secret -d grant_type=client_credentials \
//     -d resource=https://api.example.com -d scope=api:read http://127.0.0.1:18483/token
//
// A node:cluster primary generates ONE P-256 key (JWK, kid "peer-es256") and forks PEER_WORKERS
// workers (default 2), each an oidc-provider on 127.0.0.1:PEER_PORT (the cluster module shares the
// listening socket; Node's default scheduling on Linux: the primary accepts and hands connections
// round robin). Every worker signs with that same key.
// Configuration: one confidential client (client_secret_basic, grant_types ["client_credentials"]),
// features.clientCredentials, features.resourceIndicators with one resource server
// (https://api.example.com: accessTokenFormat "jwt", jwt.sign.alg "ES256", TTL 300 s),
// devInteractions off, and the default in-memory adapter. JWT-format access tokens are not stored
// at all: oidc-provider's save() upserts only when the format returns a payload, and the jwt format
// returns the signed value alone (the model emits "client_credentials.issued", not ".saved").
// The key lives in process memory; nothing is made durable per token.
// Output: start-up lines only (the primary prints "PEER ready ..." once every worker listens) and
// one line per worker at SIGTERM with its client_credentials issued / saved counts;
// nothing per request.
import cluster from 'node:cluster';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { createRequire } from 'node:module';

const PORT = Number(process.env.PEER_PORT || 18483);
const WORKERS = Number(process.env.PEER_WORKERS || 2);
const HOST = '127.0.0.1';
const RESOURCE = 'https://api.example.com';

if (cluster.isPrimary) {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-es256', alg: 'ES256', use: 'sig' };
  const version = createRequire(import.meta.url)('oidc-provider/package.json').version;
  let listening = 0;
  let stopping = false;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === WORKERS) {
      console.log(`PEER ready oidc_provider=${version} node=${process.version} workers=${WORKERS} `
        + `port=${PORT} pid=${process.pid} kid=${jwk.kid} crv=${jwk.crv}`);
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping && code !== 0) {
      console.error(`PEER worker ${worker.process.pid} exited (code ${code}, signal ${signal}); stopping`);
      stop(1);
    }
  });
  function stop(rc = 0) {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(rc), 200).unref();
    const check = setInterval(() => {
      if (Object.keys(cluster.workers).length === 0) { clearInterval(check); process.exit(rc); }
    }, 20);
  }
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  for (let i = 0; i < WORKERS; i += 1) cluster.fork({ PEER_JWK: JSON.stringify(jwk) });
} else {
  const { default: Provider } = await import('oidc-provider');
  const jwk = JSON.parse(process.env.PEER_JWK);
  const provider = new Provider(`http://${HOST}:${PORT}`, {
    clients: [{
      client_id: 'bench-client',
      client_secret: 'bench-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256', // the default (RS256) has no key in this keystore
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: ['keymgr-bench-peer-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'api:read api:write',
            audience: RESOURCE,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    ttl: { ClientCredentials: 300 },
  });
  provider.proxy = false;
  // Evidence that nothing is stored per token: counted here, printed once at exit (not per request).
  const count = { issued: 0, saved: 0 };
  provider.on('client_credentials.issued', () => { count.issued += 1; });
  provider.on('client_credentials.saved', () => { count.saved += 1; });
  process.on('SIGTERM', () => {
    console.log(`PEER worker pid=${process.pid} client_credentials_issued=${count.issued} `
      + `client_credentials_saved=${count.saved}`);
    process.exit(0);
  });
  http.createServer(provider.callback()).listen(PORT, HOST);
}
