// note_check: golang.org/x/mod/sumdb/note (the Go checksum database's signed notes) and
// golang.org/x/mod/sumdb/tlog as independent checkers of keymgr's signed notes, verifier keys and
// checkpoints (keymgr/signed_note.h, keymgr/tlog_text.h). Built and driven by
// tests/keymgr/signed_note_test.cc (NoteInterop.*); offline, in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o note_check note_check.go
//
// Reads requests from stdin, one per line, and answers each with one line on stdout: "ok ...",
// or "fail: <why>". Binary values are lower-case hex.
//
//	open NOTE [VKEY...]      note.Open(NOTE) with verifiers for the VKEYs; "ok NAME..." lists the
//	                         names of the verified signatures (x/mod order: signature-line order)
//	sign NAME TEXT           a fresh key from note.GenerateKey signs TEXT:
//	                         "ok VKEY NOTE" (NOTE hex)
//	cosign NAME TEXT TIME    a fresh Ed25519 key cosigns TEXT at TIME (cosignature/v1, written
//	                         here from C2SP tlog-cosignature): "ok VKEY NOTE"
//	tree TEXT N ROOT         tlog.ParseTree(TEXT) is tree N with root ROOT (hex) and
//	                         tlog.FormatTree gives TEXT back
//
// x/mod (Go 1.19 era) knows only Ed25519 (type 0x01) verifier keys. Type 0x02 is verified here as
// github.com/transparency-dev/witness does (key id SHA-256(DER SPKI)[:4], ECDSA P-256 ASN.1 over
// SHA-256 of the text, Go's crypto/ecdsa.VerifyASN1), type 0x04 as C2SP tlog-cosignature says.
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type funcVerifier struct {
	name   string
	hash   uint32
	verify func(msg, sig []byte) bool
}

func (v *funcVerifier) Name() string                { return v.name }
func (v *funcVerifier) KeyHash() uint32             { return v.hash }
func (v *funcVerifier) Verify(msg, sig []byte) bool { return v.verify(msg, sig) }

func cosigMessage(t uint64, text []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), text...)
}

func keyHash(name string, typeAndKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(typeAndKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func newVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("vkey %q: not name+hash+key", vkey)
	}
	blob, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(blob) < 2 {
		return nil, fmt.Errorf("vkey %q: bad key", vkey)
	}
	want, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, fmt.Errorf("vkey %q: bad hash", vkey)
	}
	switch blob[0] {
	case 0x01:
		return note.NewVerifier(vkey)
	case 0x02:
		der := blob[1:]
		sum := sha256.Sum256(der)
		if binary.BigEndian.Uint32(sum[:]) != uint32(want) {
			return nil, fmt.Errorf("vkey %q: ECDSA key hash mismatch", vkey)
		}
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, fmt.Errorf("vkey %q: not a P-256 key", vkey)
		}
		return &funcVerifier{parts[0], uint32(want), func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return ecdsa.VerifyASN1(ek, d[:], sig)
		}}, nil
	case 0x04:
		if len(blob) != 33 || keyHash(parts[0], blob) != uint32(want) {
			return nil, fmt.Errorf("vkey %q: bad cosignature key or hash", vkey)
		}
		pub := ed25519.PublicKey(blob[1:])
		return &funcVerifier{parts[0], uint32(want), func(msg, sig []byte) bool {
			if len(sig) != 8+ed25519.SignatureSize {
				return false
			}
			t := binary.BigEndian.Uint64(sig)
			return t < 1<<63 && ed25519.Verify(pub, cosigMessage(t, msg), sig[8:])
		}}, nil
	}
	return nil, fmt.Errorf("vkey %q: unknown type %d", vkey, blob[0])
}

func handle(f []string) (string, error) {
	unhex := func(s string) ([]byte, error) { return hex.DecodeString(s) }
	switch f[0] {
	case "open":
		if len(f) < 2 {
			return "", fmt.Errorf("usage: open NOTE [VKEY...]")
		}
		msg, err := unhex(f[1])
		if err != nil {
			return "", err
		}
		var vs []note.Verifier
		for _, k := range f[2:] {
			v, err := newVerifier(k)
			if err != nil {
				return "", err
			}
			vs = append(vs, v)
		}
		n, err := note.Open(msg, note.VerifierList(vs...))
		if err != nil {
			return "", err
		}
		names := []string{"ok"}
		for _, s := range n.Sigs {
			names = append(names, s.Name)
		}
		return strings.Join(names, " "), nil
	case "sign":
		if len(f) != 3 {
			return "", fmt.Errorf("usage: sign NAME TEXT")
		}
		text, err := unhex(f[2])
		if err != nil {
			return "", err
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, f[1])
		if err != nil {
			return "", err
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			return "", err
		}
		msg, err := note.Sign(&note.Note{Text: string(text)}, s)
		if err != nil {
			return "", err
		}
		return "ok " + vkey + " " + hex.EncodeToString(msg), nil
	case "cosign":
		if len(f) != 4 {
			return "", fmt.Errorf("usage: cosign NAME TEXT TIME")
		}
		text, err := unhex(f[2])
		if err != nil {
			return "", err
		}
		t, err := strconv.ParseUint(f[3], 10, 63)
		if err != nil {
			return "", err
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", err
		}
		blob := append([]byte{0x04}, pub...)
		h := keyHash(f[1], blob)
		vkey := fmt.Sprintf("%s+%08x+%s", f[1], h, base64.StdEncoding.EncodeToString(blob))
		sig := make([]byte, 0, 4+8+ed25519.SignatureSize)
		sig = binary.BigEndian.AppendUint32(sig, h)
		sig = binary.BigEndian.AppendUint64(sig, t)
		sig = append(sig, ed25519.Sign(priv, cosigMessage(t, text))...)
		var buf bytes.Buffer
		buf.Write(text)
		fmt.Fprintf(&buf, "\n— %s %s\n", f[1], base64.StdEncoding.EncodeToString(sig))
		return "ok " + vkey + " " + hex.EncodeToString(buf.Bytes()), nil
	case "tree":
		if len(f) != 4 {
			return "", fmt.Errorf("usage: tree TEXT N ROOT")
		}
		text, err := unhex(f[1])
		if err != nil {
			return "", err
		}
		tree, err := tlog.ParseTree(text)
		if err != nil {
			return "", err
		}
		if strconv.FormatInt(tree.N, 10) != f[2] || hex.EncodeToString(tree.Hash[:]) != f[3] {
			return "", fmt.Errorf("ParseTree gave %d %x", tree.N, tree.Hash[:])
		}
		if !bytes.Equal(tlog.FormatTree(tree), text) {
			return "", fmt.Errorf("FormatTree gives %q", tlog.FormatTree(tree))
		}
		return "ok", nil
	}
	return "", fmt.Errorf("unknown request %q", f[0])
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		reply, err := handle(f)
		if err != nil {
			fmt.Fprintf(out, "fail: %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintln(out, reply)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(out, "fail: reading input: %v\n", err)
		os.Exit(1)
	}
}
