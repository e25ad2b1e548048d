#!/usr/bin/python3
"""Verifies compact JWS tokens with PyJWT, an independent JOSE implementation.

Usage: pyjwt_verify.py CASES.json
CASES.json: [{"name": ..., "alg": "ES256", "token": "h.p.s", "jwk": {...}, "payload": {...}}, ...]
Prints one line per case; exit status 0 only if every token verifies and decodes to its payload.
"""
import json
import sys

import jwt


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    failed = 0
    for case in cases:
        try:
            key = jwt.PyJWK(case["jwk"], algorithm=case["alg"])
            claims = jwt.decode(case["token"], key=key.key, algorithms=[case["alg"]],
                                options={"verify_aud": False})
            if claims != case["payload"]:
                raise ValueError(f"payload mismatch: {claims!r}")
            print(f"OK {case['name']}")
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print(f"FAIL {case['name']}: {type(e).__name__}: {e}")
    return 1 if failed or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
