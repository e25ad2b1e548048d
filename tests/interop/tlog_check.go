// tlog_check: golang.org/x/mod/sumdb/tlog (the Go checksum database's Merkle tree code) as an
// independent checker of keymgr's RFC 6962 / 9162 tree (db/merkle.h). Built and driven by
// tests/db/merkle_test.cc (MerkleInterop.GoReferenceAgrees); offline, in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlog_check tlog_check.go
//
// Reads requests from stdin, one per line, and answers each with one line on stdout: "ok", or
// "fail: <why>". Hashes and data are lower-case hex.
//
//	leaf [DATA]                    append a record (tlog.StoredHashes; the reply is "ok")
//	root N ROOT                    ROOT == tlog.TreeHash(N)
//	incl N INDEX [PROOF_HASH...]   keymgr's inclusion proof of record INDEX in tree N: equal to
//	                               tlog.ProveRecord and accepted by tlog.CheckRecord against
//	                               tlog's own root and record hash
//	cons M N [PROOF_HASH...]       keymgr's consistency proof from M to N: equal to tlog.ProveTree
//	                               and accepted by tlog.CheckTree against tlog's own roots
//
// Nothing from keymgr is trusted but the proof under test: roots and record hashes are tlog's.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

type memStore []tlog.Hash

func (s *memStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(*s)) {
			return nil, fmt.Errorf("stored hash %d not present", x)
		}
		out[i] = (*s)[x]
	}
	return out, nil
}

func parseHashes(fields []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(fields))
	for i, f := range fields {
		b, err := hex.DecodeString(f)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("bad hash %q", f)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

func equal(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func handle(store *memStore, records *[][]byte, f []string) error {
	num := func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
	switch f[0] {
	case "leaf":
		var data []byte
		if len(f) > 1 {
			var err error
			if data, err = hex.DecodeString(f[1]); err != nil {
				return err
			}
		}
		hashes, err := tlog.StoredHashes(int64(len(*records)), data, store)
		if err != nil {
			return err
		}
		*store = append(*store, hashes...)
		*records = append(*records, data)
		return nil
	case "root":
		if len(f) != 3 {
			return fmt.Errorf("usage: root N ROOT")
		}
		n, err := num(f[1])
		if err != nil {
			return err
		}
		want, err := parseHashes(f[2:])
		if err != nil {
			return err
		}
		th, err := tlog.TreeHash(n, store)
		if err != nil {
			return err
		}
		if th != want[0] {
			return fmt.Errorf("root of %d: tlog says %x, keymgr %x", n, th[:], want[0][:])
		}
		return nil
	case "incl":
		if len(f) < 3 {
			return fmt.Errorf("usage: incl N INDEX [HASH...]")
		}
		n, err1 := num(f[1])
		index, err2 := num(f[2])
		if err1 != nil || err2 != nil || index < 0 || index >= int64(len(*records)) {
			return fmt.Errorf("bad sizes %q %q", f[1], f[2])
		}
		proof, err := parseHashes(f[3:])
		if err != nil {
			return err
		}
		th, err := tlog.TreeHash(n, store)
		if err != nil {
			return err
		}
		if err := tlog.CheckRecord(proof, n, th, index, tlog.RecordHash((*records)[index])); err != nil {
			return fmt.Errorf("CheckRecord(%d of %d): %v", index, n, err)
		}
		own, err := tlog.ProveRecord(n, index, store)
		if err != nil {
			return err
		}
		if !equal(own, proof) {
			return fmt.Errorf("inclusion proof %d of %d differs from tlog.ProveRecord", index, n)
		}
		return nil
	case "cons":
		if len(f) < 3 {
			return fmt.Errorf("usage: cons M N [HASH...]")
		}
		m, err1 := num(f[1])
		n, err2 := num(f[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad sizes %q %q", f[1], f[2])
		}
		proof, err := parseHashes(f[3:])
		if err != nil {
			return err
		}
		thM, err := tlog.TreeHash(m, store)
		if err != nil {
			return err
		}
		thN, err := tlog.TreeHash(n, store)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(proof, n, thN, m, thM); err != nil {
			return fmt.Errorf("CheckTree(%d -> %d): %v", m, n, err)
		}
		own, err := tlog.ProveTree(n, m, store)
		if err != nil {
			return err
		}
		if !equal(own, proof) {
			return fmt.Errorf("consistency proof %d -> %d differs from tlog.ProveTree", m, n)
		}
		return nil
	}
	return fmt.Errorf("unknown request %q", f[0])
}

func main() {
	var store memStore
	var records [][]byte
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		if err := handle(&store, &records, f); err != nil {
			fmt.Fprintf(out, "fail: %v\n", err)
		} else {
			fmt.Fprintln(out, "ok")
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(out, "fail: reading stdin: %v\n", err)
		out.Flush()
		os.Exit(1)
	}
}
