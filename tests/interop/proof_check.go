// proof_check: golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (the Go checksum
// database's code) as independent checkers of the files keymgr's log serves: a C2SP tlog-proof
// inclusion proof (GET/POST /v1/audit/proof?format=text, `keymgr audit prove`) and a tlog-witness
// consistency proof (GET /v1/audit/proof/consistency?format=text). Driven by
// tests/e2e/log_cli_test.py; offline, in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o proof_check proof_check.go
//
//	proof_check incl VKEY PROOF_FILE
//	    note.Open verifies the proof's checkpoint with VKEY (an Ed25519 verifier key: x/mod knows
//	    no other type); the record hash is tlog.RecordHash(extra) and tlog.CheckRecord checks the
//	    audit path against the checkpoint's size and root. Prints "ok ORIGIN SIZE INDEX".
//	proof_check cons VKEY OLD_CHECKPOINT_FILE CONSISTENCY_FILE
//	    both checkpoints verified with VKEY; tlog.CheckTree from the old tree to the new one.
//	    Prints "ok OLD_SIZE NEW_SIZE".
//
// Anything else prints "fail: <why>" and exits 1. The file formats are parsed here from the
// C2SP specs (tlog-proof, tlog-witness, tlog-checkpoint), not with keymgr's code. tlog.ParseTree
// is not used: it accepts only the origin "go.sum database tree".
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func die(format string, args ...interface{}) {
	fmt.Printf("fail: "+format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != tlog.HashSize {
		die("bad hash %q", b64)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func decimal(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		die("bad number %q", s)
	}
	return n
}

// openCheckpoint verifies a signed checkpoint note with vkey and returns its origin and tree.
func openCheckpoint(msg []byte, vkey string) (string, tlog.Tree) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		die("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		die("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		die("checkpoint text malformed: %q", n.Text)
	}
	return lines[0], tlog.Tree{N: decimal(lines[1]), Hash: hash(lines[2])}
}

// hashLines reads base64 hash lines up to the blank line; returns them and the rest (the note).
func hashLines(lines []string) ([]tlog.Hash, string) {
	var out []tlog.Hash
	for i, l := range lines {
		if l == "" {
			return out, strings.Join(lines[i+1:], "\n")
		}
		out = append(out, hash(l))
	}
	die("no blank line before the checkpoint")
	return nil, ""
}

func read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	return string(b)
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "incl" {
		lines := strings.Split(read(os.Args[3]), "\n")
		if len(lines) < 4 || lines[0] != "c2sp.org/tlog-proof@v1" {
			die("not a c2sp.org/tlog-proof@v1 file")
		}
		lines = lines[1:]
		if !strings.HasPrefix(lines[0], "extra ") {
			die("no extra line: the leaf data is needed to compute the record hash")
		}
		extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra "))
		if err != nil {
			die("extra: %v", err)
		}
		if !strings.HasPrefix(lines[1], "index ") {
			die("no index line")
		}
		index := decimal(strings.TrimPrefix(lines[1], "index "))
		proof, rest := hashLines(lines[2:])
		origin, tree := openCheckpoint([]byte(rest), os.Args[2])
		if err := tlog.CheckRecord(tlog.RecordProof(proof), tree.N, tree.Hash, index, tlog.RecordHash(extra)); err != nil {
			die("tlog.CheckRecord: %v", err)
		}
		fmt.Printf("ok %s %d %d\n", origin, tree.N, index)
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "cons" {
		oldOrigin, oldTree := openCheckpoint([]byte(read(os.Args[3])), os.Args[2])
		lines := strings.Split(read(os.Args[4]), "\n")
		if !strings.HasPrefix(lines[0], "old ") {
			die("no old line")
		}
		if decimal(strings.TrimPrefix(lines[0], "old ")) != oldTree.N {
			die("the proof starts at %s, the old checkpoint has size %d", lines[0], oldTree.N)
		}
		proof, rest := hashLines(lines[1:])
		origin, tree := openCheckpoint([]byte(rest), os.Args[2])
		if origin != oldOrigin {
			die("origins differ: %q, %q", oldOrigin, origin)
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), tree.N, tree.Hash, oldTree.N, oldTree.Hash); err != nil {
			die("tlog.CheckTree: %v", err)
		}
		fmt.Printf("ok %d %d\n", oldTree.N, tree.N)
		return
	}
	die("usage: proof_check incl VKEY PROOF_FILE | cons VKEY OLD_CHECKPOINT_FILE CONSISTENCY_FILE")
}
