#!/usr/bin/python3
"""Verifies a keymgr token with PyJWT (Debian python3-jwt), fetching the live JWKS.

usage: pyjwt_check.py JWKS_URL ISSUER TOKEN
Prints the verified claims as JSON; exits 1 (with the reason) when PyJWT rejects the token.
"""
import json
import sys

import jwt

jwks_url, issuer, token = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    client = jwt.PyJWKClient(jwks_url, cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    alg = jwt.get_unverified_header(token)["alg"]
    claims = jwt.decode(token, key.key, algorithms=[alg], issuer=issuer,
                        options={"require": ["exp", "iat", "iss", "jti"], "verify_aud": False})
except Exception as e:  # noqa: BLE001 - any rejection is a failed check
    print(f"pyjwt rejected: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(claims, sort_keys=True))
