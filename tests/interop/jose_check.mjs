// Verifies a keymgr token with the npm `jose` package, using a remote JWKS client (the way a
// real verifier does): node jose_check.mjs JWKS_URL ISSUER TOKEN
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer, token] = process.argv.slice(2);
try {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer });
  console.log(JSON.stringify({ alg: protectedHeader.alg, kid: protectedHeader.kid, ...payload }));
} catch (e) {
  console.error(`jose rejected: ${e.code ?? e.name}: ${e.message}`);
  process.exit(1);
}
