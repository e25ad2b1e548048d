#!/usr/bin/python3
"""Writes the committed seed corpora under tests/fuzz/corpus/<target>/ (and the inputs of known,
still-unfixed product bugs under tests/fuzz/known-bugs/<target>/). Deterministic file names;
key material is generated fresh (public data only ends up in the files).

usage: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import base64
import hashlib
import json
import os
import shutil

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def write(sub, target, items):
    d = os.path.join(HERE, sub, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in items:
        if isinstance(data, str):
            data = data.encode()
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{sub}/{target}: {len(items)}")


def jd(o):
    return json.dumps(o, separators=(",", ":"))


# ---------------------------------------------------------------- json (request bodies)
deep16 = "[" * 16 + "]" * 16
deep17 = "[" * 17 + "]" * 17
json_seeds = [
    jd({"claims": {"sub": "alice", "aud": "api"}, "ttl": 300}),
    jd({"name": "web", "issuer": "https://id.example.com/web", "alg": "ES256", "policy": {"sign_period": "30d"}}),
    jd({"policy": {"max_token_ttl": 3600}, "disabled": True, "reason": "x"}),
    jd({"token": "a.b.c"}),
    jd({"reason": "leak", "suspected_since": 1767225600}),
    "{}", "[]", "null", "0", "-0", "1e400", "-1e-400", "18446744073709551615", "-9223372036854775809",
    "1.7976931348623157e308", '"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"', '"\xc3\x28"', '{"a":1,"a":2}',
    deep16, deep17, '{"a":' * 20 + "1" + "}" * 20, " \t\n{}\n", "{}garbage", '{"a":tru}', "\xef\xbb\xbf{}",
    '["' + "x" * 1000 + '"]', "[1,2,3,]", "{'a':1}", "NaN", "[Infinity]",
]
write("corpus", "json", json_seeds)

# ---------------------------------------------------------------- claims
ISS_A = "https://issuer.example/a"
claims_seeds = [
    jd({"sub": "alice"}), jd({"sub": "alice", "aud": "api"}), jd({"sub": "bob", "aud": ["a", "b"]}),
    jd({"iss": ISS_A, "sub": "x"}), jd({"iss": "https://evil.example/a"}), jd({"iss": 5}),
    jd({"sub": ""}), jd({"sub": 7}), jd({"aud": []}), jd({"aud": [""]}), jd({"aud": [1]}),
    jd({"iat": 1}), jd({"jti": "x"}), jd({"exp": 1}), jd({"nbf": 1}),
    jd({"scope": "read write", "roles": ["a", {"b": [1, 2.5, None, True]}], "n": 1e300, "m": -0.0}),
    jd({"x": "\u00e9\u4e2d\U0001f600", "y": "\u0000"}), jd({"big": 18446744073709551615, "neg": -9223372036854775808}),
    jd({"pad": "x" * 8000}), jd({"pad": "x" * 9000}), "[]", '"str"', "{}", '{"a":' * 15 + "1" + "}" * 15,
]
write("corpus", "claims", claims_seeds)

# ---------------------------------------------------------------- verify
ec_key = ec.generate_private_key(ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.generate()


def es256(header, payload, key=ec_key, der=False):
    si = b64(jd(header)) + "." + b64(jd(payload))
    sig = key.sign(si.encode(), ec.ECDSA(hashes.SHA256()))
    if not der:
        r, s = utils.decode_dss_signature(sig)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return si + "." + b64(sig)


now = 1767225600
claims = {"iss": ISS_A, "sub": "alice", "aud": "api", "iat": now, "nbf": now, "exp": now + 300, "jti": "j"}
hdr = {"alg": "ES256", "kid": "kid-never-seen", "typ": "JWT"}
n_p256 = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
ed_si = b64(jd({"alg": "EdDSA", "kid": "x"})) + "." + b64(jd(claims))
verify_seeds = [
    "T:" + es256(hdr, claims), "T:" + es256(hdr, claims, der=True),
    "T:" + b64(jd({"alg": "none", "kid": "k"})) + "." + b64(jd(claims)) + ".",
    "T:" + b64(jd({"alg": "HS256"})) + "." + b64(jd(claims)) + "." + b64(b"\x00" * 32),
    "T:a.b.c", "T:..", "T:", "T:" + "A" * 100, "T:e30.e30.AA==", "T:e30.e30.e30.e30",
    "U:" + ed_si + "." + b64(ed_key.sign(ed_si.encode())), "V:" + es256(hdr, claims),
    "R:\x00", "R:\x01", "R:\x00\x05A", "R:\x01\x40.", "R:\x00\xff_",
]
structured_headers = [
    {"alg": "ES256", "kid": "@KA", "typ": "JWT"}, {"alg": "ES256", "kid": "@KB"}, {"alg": "EdDSA", "kid": "@KB"},
    {"alg": "PS256", "kid": "@KC"}, {"alg": "none", "kid": "@KA"}, {"alg": "HS256", "kid": "@KA"},
    {"alg": "ES256", "kid": "@KA", "crit": ["x"]}, {"alg": "ES256", "kid": "@KA", "jku": "https://evil"},
    {"alg": "ES256", "kid": "@KA", "jwk": {"kty": "EC"}}, {"alg": "ES256", "kid": "@KA", "x5u": "https://evil"},
    {"alg": "ES256"}, {"alg": "ES256", "kid": 1},
]
payloads = [
    '{"iss":"https://issuer.example/a","sub":"x","iat":@NOW,"nbf":@NOW,"exp":@NOW}',
    '{"iss":"https://issuer.example/a","iat":1,"exp":2}',
    '{"iss":"https://issuer.example/a","iat":@NOW,"nbf":99999999999,"exp":99999999999}',
    '{"iss":"https://issuer.example/b","iat":@NOW,"exp":@NOW}',
    '{"iat":"1","exp":1.5,"nbf":null}', "[]", "{}", '{"a":' * 17 + "1" + "}" * 17,
    '{"iat":-9223372036854775808,"exp":-9223372036854775808,"nbf":9223372036854775807}',
]
for h in structured_headers:
    verify_seeds.append(jd(h) + "\n" + payloads[0])
for p in payloads:
    verify_seeds.append(jd(structured_headers[0]) + "\n" + p)
verify_seeds.append(jd(structured_headers[0]) + "\n" + payloads[0] + "\n" + "\x00" * 64)
verify_seeds.append(jd(structured_headers[0]) + "\n" + payloads[0] + "\n")
verify_seeds.append(jd(structured_headers[0]).encode() + b"\n" + payloads[0].encode() + b"\n" + bytes.fromhex(n_p256) * 2)
verify_seeds.append(jd(structured_headers[0]).encode() + b"\n" + payloads[0].encode() + b"\n" + b"\x30\x06\x02\x01\x01\x02\x01\x01")
write("corpus", "verify", verify_seeds)
# exp close to INT64_MAX: `now_s < *exp + skew` overflows (keymgr/token_service.cc, see hostile_test.cc).
write("known-bugs", "verify", [
    jd(structured_headers[0]) + "\n" + '{"iss":"https://issuer.example/a","iat":@NOW,"exp":9223372036854775807}',
])

# ---------------------------------------------------------------- base64url
write("corpus", "base64url", ["", "A", "AA", "AAA", "AAAA", "AB", "AQ", "_-", "a+/=", "e30", "eyJhbGciOiJFUzI1NiJ9",
                              "====", "A\x00", "\xff\xfe", "0123456789abcdef", "Zm9vYmFy", "Zm9vYg", "Zm9vYmE"])

# ---------------------------------------------------------------- jwk (first byte: algorithm index)
ALG = {"ES256": 0, "ES384": 1, "RS256": 2, "RS256-3072": 3, "PS256": 4, "PS256-3072": 5, "EdDSA": 6}


def ec_jwk(curve, size):
    k = ec.generate_private_key(curve).public_key().public_numbers()
    return {"kty": "EC", "crv": {32: "P-256", 48: "P-384"}[size], "x": b64(k.x.to_bytes(size, "big")),
            "y": b64(k.y.to_bytes(size, "big"))}


def rsa_jwk(bits):
    k = rsa.generate_private_key(65537, bits).public_key().public_numbers()
    return {"kty": "RSA", "n": b64(k.n.to_bytes(bits // 8, "big")), "e": b64(k.e.to_bytes(3, "big"))}


p256, p384 = ec_jwk(ec.SECP256R1(), 32), ec_jwk(ec.SECP384R1(), 48)
r2048, r3072 = rsa_jwk(2048), rsa_jwk(3072)
okp = {"kty": "OKP", "crv": "Ed25519",
       "x": b64(ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))}
off_curve = dict(p256, y=b64(b"\x01" * 32))
jwk_seeds = []
for alg, j in [("ES256", p256), ("ES384", p384), ("RS256", r2048), ("RS256-3072", r3072), ("PS256", r2048),
               ("PS256-3072", r3072), ("EdDSA", okp), ("ES256", off_curve), ("ES256", dict(p256, d="AAAA")),
               ("ES256", p384), ("RS256", r3072), ("RS256", dict(r2048, e="AA")), ("RS256", dict(r2048, e="AQAB")),
               ("RS256", dict(r2048, n="AA" + r2048["n"])), ("EdDSA", dict(okp, x="AA")), ("ES256", {"kty": "EC"}),
               ("ES256", dict(p256, x=p256["x"] + "=")), ("EdDSA", p256), ("ES384", dict(p384, crv="P-256"))]:
    jwk_seeds.append(bytes([ALG[alg]]) + jd(j).encode())
jwk_seeds += [b"\x00[]", b"\x06{}", b"\x02null"]
write("corpus", "jwk", jwk_seeds)

# ---------------------------------------------------------------- policy
write("corpus", "policy", [
    jd({"prepublish": "24h", "sign_period": "30d", "verify_grace": "24h", "max_token_ttl": "1h",
        "destroy_after": "7d", "verifier_cache": "12h", "jwks_max_age": "5m", "clock_skew": "5m",
        "rotation_lead": "24h"}),
    jd({"sign_period": 300}), jd({"max_token_ttl": 0}), jd({"clock_skew": -1}), jd({"bogus": 1}),
    jd({"sign_period": 3153600000}), jd({"sign_period": 3153600001}), jd({"sign_period": "36500d"}),
    jd({"sign_period": "36501d"}), jd({"sign_period": 1.5}), jd({"sign_period": None}), jd({"sign_period": "1w"}),
    jd({"sign_period": "-5m"}), jd({"sign_period": "+5m"}), jd({"sign_period": "9223372036854775807s"}),
    jd({"sign_period": 18446744073709551615}), "30d", "12h", "90m", "45s", "3600", "", "d", "0d", "1e3s", " 5m",
    "99999999999999999999d", "[]",
    jd({"sign_rate": 100, "sign_burst": 200}), jd({"sign_rate": "5"}), jd({"sign_burst": 5}),
    jd({"sign_rate": 1000001}), jd({"sign_rate": -1}), jd({"sign_rate": 1.5}),
])

# ---------------------------------------------------------------- config (TOML)
example = open(os.path.join(HERE, "..", "..", "docs", "keymgr.example.toml")).read()
write("corpus", "config", [
    example, "",
    '[server]\nlisten = "127.0.0.1"\nport = 8080\nthreads = 16\n[hsm]\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\n'
    'token_label = "keymgr"\npin_file = "/tmp/pin"\n[database]\npath = "k.db"\n[scheduler]\ninterval = "1s"\n'
    'checkpoint_interval = "2s"\n[log]\nlevel = "info"\njson = true\n[bootstrap]\nkeyset = "default"\n',
    "[server]\nport = 70000\n", "[server]\nport = -1\n", "[server]\nport = 1.5\n", "[server]\nport = \"80\"\n",
    "[hsm]\npool_size = 0\n", "[hsm]\npool_size = 9223372036854775807\n", "[scheduler]\ninterval = 0\n",
    "[scheduler]\ninterval = \"0s\"\n", "[scheduler]\ninterval = -5\n", "[scheduler]\ninterval = 1.5\n",
    "[server]\nport = 8080.0\n", "[bogus]\n", "[server]\nbogus = 1\n",
    "server = 1\n", "[server.x]\na = 1\n", "[[server]]\n", "[server]\ntls_cert = \"a\"\n",
    "[server]\nclient_ca = \"a\"\n", "a = [" * 50 + "]" * 50, "x = { a = { b = { c = 1 } } }\n",
    "[log]\njson = 1\n", '[server]\nlisten = """\nmulti\n"""\n', "[server]\nlisten = '\\x'\n", "\xff\xfe",
    "[server]\nport = 1979-05-27T07:32:00Z\n",
    '[monitor]\nwindow = "1m"\nunknown_kid_threshold = 3\n[[monitor.webhooks]]\nname = "ops"\n'
    'url = "https://hooks.example.com/k"\nsecret_file = "/etc/s"\ntimeout = "2s"\n',
    '[[monitor.webhooks]]\nname = "Ops"\nurl = "http://h/"\nsecret_file = "s"\n',
    '[[monitor.webhooks]]\nname = "a"\nurl = "http://u:p@h/"\nsecret_file = "s"\n',
    '[[monitor.webhooks]]\nname = "a"\nurl = "http://h:0/"\nsecret_file = "s"\n',
    '[[monitor.webhooks]]\nname = "a"\nurl = "http://h/"\n',
    '[[monitor.webhooks]]\nname = "a"\nurl = "http://h/"\nsecret_file = "s"\n[[monitor.webhooks]]\nname = "a"\n'
    'url = "http://h/"\nsecret_file = "s"\n',
    '[monitor]\nwebhooks = 1\n', '[monitor]\nretry_initial_ms = 5\n', '[monitor]\nretry_max = "48h"\n',
    '[monitor]\nrefusal_threshold = 0\n', '[monitor]\nbogus = 1\n',
])

# ---------------------------------------------------------------- alerts (webhook URLs, cursors, sink names)
write("corpus", "alerts", [
    "Whttps://hooks.example.com/keymgr", "Whttp://127.0.0.1:9000/hook", "Whttp://[::1]:8080/x", "Whttp://h",
    "Whttp://h:65536/", "Whttp://h:0/", "Whttp://u:p@h/", "Whttp://h/?q=1", "Whttp://h/#f", "Whttp:///x",
    "Wftp://h/", "Whttp://h/a b", "Whttp://h:/", "Whttp://:80/", "Whttp://h\\x/",
    "C1700000000000:leak_suspected-0123456789abcdef01234567", "C0:a", "C01:a", "C-1:a", "C1:", "C:a", "C1:a:b",
    "C99999999999999999999:a", "C1:a'b",
    "Nops-pager", "N", "NOps", "N" + "a" * 65, "Na_b-c",
])

# A TOML float out of int64 range where an integer is read: toml++ value<int64_t>() casts it (UB).
write("known-bugs", "config", ["[scheduler]\ninterval = 1e30\n", "[scheduler]\ninterval = inf\n",
                               "[server]\nport = nan\n", "[hsm]\npool_size = -1e300\n"])

# ---------------------------------------------------------------- auth (Authorization header values)
write("corpus", "auth", [
    "Bearer @ADMIN", "Bearer @ISSUER", "Bearer @REVOKED", "Bearer @ADMINx", "Bearer km_", "Bearer km__",
    "Bearer km_x_y", "Bearer km_@ADMIN", "bearer @ADMIN", "Basic @ADMIN", "@ADMIN", "Bearer  @ADMIN", "",
    "Bearer " + "km_" + "a" * 200, "Bearer km_\x00_\x00", "Bearer km_' OR 1=1 --_x",
])

# ---------------------------------------------------------------- note, checkpoint, tlogproof
# Deterministic (fixed public test keys): see make_tlog_seeds.py.
exec(open(os.path.join(HERE, "make_tlog_seeds.py")).read(), {"__file__": os.path.join(HERE, "make_tlog_seeds.py")})
# ---------------------------------------------------------------- ledgerenc (db/ledger_hash.h enc)
def ledger_enc(seq=1, ts_ms=1700000000000, kind="sign", event="sign", keyset="web", kid="k1", alg="ES256",
               actor="web-app", actor_addr="127.0.0.1", jti="j1", sub="alice", aud="api", iat=1700000000,
               exp=1700000300, token_sha256="ab" * 32, outcome="ok", reason="", detail=""):
    import struct

    def s(x):
        x = x.encode() if isinstance(x, str) else x
        return struct.pack(">I", len(x)) + x

    def i(v):
        return struct.pack(">q", v)
    return (s("keymgr-ledger-v1") + i(seq) + i(ts_ms)
            + b"".join(s(x) for x in (kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud))
            + i(iat) + i(exp) + b"".join(s(x) for x in (token_sha256, outcome, reason, detail)))


good = ledger_enc()
write("corpus", "ledgerenc", [
    good, ledger_enc(kind="lifecycle", event="key_activated", jti="", sub="", aud="", iat=0, exp=0, token_sha256="",
                     detail='{"from":"pre-activation","to":"active"}'),
    ledger_enc(seq=-1, iat=-(2 ** 63), exp=2 ** 63 - 1, sub="\x00\xff".encode("latin-1")),
    ledger_enc(kind="", event="", keyset="", kid="", alg="", actor="", actor_addr="", jti="", sub="", aud="",
               token_sha256="", outcome="", detail=""),
    b"", good[:-1], good + b"\x00", good[:20], b"\x00\x00\x00\x10keymgr-ledger-v2" + good[20:],
    good[:4] + b"KEYMGR-LEDGER-V1" + good[20:],
    b"\xff\xff\xff\xff" + good[4:], good[:28] + b"\x7f\xff\xff\xff" + good[32:],
])
