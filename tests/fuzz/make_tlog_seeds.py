#!/usr/bin/python3
"""Seed corpora of the transparency-log format targets (note, checkpoint, tlogproof) under
tests/fuzz/corpus/<target>/. Deterministic: the signing keys are the public test keys of
golang.org/x/mod/sumdb/note (PeterNeumann) and fixed seeds, so re-running changes nothing.
Called by make_seeds.py; runs alone too: /usr/bin/python3 tests/fuzz/make_tlog_seeds.py
"""
import base64
import hashlib
import os
import shutil
import struct

from cryptography.hazmat.primitives.asymmetric import ed25519

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, items):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in items:
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)
    print(f"corpus/{target}: {len(items)}")


def b64(b):
    return base64.b64encode(b).decode()


def key_id(name, typ, raw):
    return hashlib.sha256(name.encode() + b"\n" + bytes([typ]) + raw).digest()[:4]


def raw_pub(priv):
    from cryptography.hazmat.primitives import serialization
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# x/mod note_test.go's PeterNeumann key (its private key is in that public test file).
PETER = ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:])
WITNESS = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"keymgr fuzz witness").digest())
LOG = "keymgr.example/ledger"


def sig_line(name, kid, sig):
    return "— %s %s\n" % (name, b64(kid + sig))


def signed(text, witness_time=None):
    note = text + "\n" + sig_line("PeterNeumann", key_id("PeterNeumann", 1, raw_pub(PETER)), PETER.sign(text.encode()))
    if witness_time is not None:
        msg = ("cosignature/v1\ntime %d\n" % witness_time).encode() + text.encode()
        note += sig_line("witness.example/w1", key_id("witness.example/w1", 4, raw_pub(WITNESS)),
                         struct.pack(">Q", witness_time) + WITNESS.sign(msg))
    return note


def leaf(d):
    return hashlib.sha256(b"\x00" + d).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(i, leaves):
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if i < k:
        return path(i, leaves[:k]) + [mth(leaves[k:])]
    return path(i - k, leaves[k:]) + [mth(leaves[:k])]


def checkpoint(origin, n, root, ext=()):
    return "%s\n%d\n%s\n" % (origin, n, b64(root)) + "".join(e + "\n" for e in ext)


PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
leaves = [b"ledger entry %d" % i for i in range(7)]
cp7 = checkpoint(LOG, 7, mth(leaves))

write("note", [
    signed(PETER_TEXT),
    PETER_TEXT + "\n" + sig_line("PeterNeumann", key_id("PeterNeumann", 1, raw_pub(PETER)), PETER.sign(PETER_TEXT.encode()))
    + "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n",
    "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
    "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n",
    signed(cp7, witness_time=1767225600),
    "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==\n",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+"
    "smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=",
    "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    "t\n\n— k AAAAAAA=\n", "\n\n— k AAAAAAA=\n", "a\n\nb\n\n— k AAAAAAA=\n— k AAAAAAA=\n", "t\n\n— k AAAA\n",
    "t\n\n- k AAAAAAA=\n", "t\n\n— k+x AAAAAAA=\n", "t\r\n\n— k AAAAAAA=\n", "\xff\n\n— k AAAAAAA=\n",
])

write("checkpoint", [
    cp7,
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "rekor.sigstore.dev - 2605736670972794746\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nTimestamp: 1\n",
    "go.sum database tree\n18446744073709551615\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
    "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n", "o\n18446744073709551616\nAAAA\n", "",
])


def proof_file(i, extra=True):
    out = "c2sp.org/tlog-proof@v1\n"
    if extra:
        out += "extra " + b64(leaves[i]) + "\n"
    out += "index %d\n" % i + "".join(b64(h) + "\n" for h in path(i, leaves)) + "\n"
    return out + signed(cp7, witness_time=1767225600)


def consistency_file():
    # PROOF(4, D[0:7]) of RFC 9162 2.1.4.1: for m = 4 (a complete subtree) it is [MTH(D[4:7])].
    return "old 4\n" + b64(mth(leaves[4:])) + "\n\n" + signed(cp7)


write("tlogproof", [
    proof_file(0), proof_file(3), proof_file(6), proof_file(5, extra=False), consistency_file(),
    "old 0\n\n" + signed(cp7),
    "c2sp.org/tlog-proof@v1\nindex 0\n\n" + signed(PETER_TEXT),
    "c2sp.org/tlog-proof@v1\nextra \nindex 00\n\n", "c2sp.org/tlog-proof@v2\n", "",
])
