// tlogcheck verifies the operator's transparency-log output with Go's own
// implementations, written by others from the same specifications:
// golang.org/x/mod/sumdb/tlog (RFC 6962 trees, proofs and tiles, as Go's
// checksum database serves them), golang.org/x/mod/sumdb/note (signed notes)
// and github.com/transparency-dev/formats (checkpoints, cosignature/v1).
//
// It reads one JSON request on stdin and prints the errors it found as JSON.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type request struct {
	Origin       string   `json:"origin"`
	LogVkey      string   `json:"logVkey"`
	WitnessVkeys []string `json:"witnessVkeys"`
	Checkpoint   string   `json:"checkpoint"`
	Entries      [][]byte `json:"entries"`
	Roots        []struct {
		Size int64  `json:"size"`
		Root []byte `json:"root"`
	} `json:"roots"`
	Inclusion []struct {
		Index int64    `json:"index"`
		Size  int64    `json:"size"`
		Proof [][]byte `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		Old   int64    `json:"old"`
		New   int64    `json:"new"`
		Proof [][]byte `json:"proof"`
	} `json:"consistency"`
	Tiles []struct {
		Level   int    `json:"level"`
		Index   int64  `json:"index"`
		Width   int    `json:"width"`
		Entries bool   `json:"entries"`
		Path    string `json:"path"`
		Data    []byte `json:"data"`
	} `json:"tiles"`
}

type response struct {
	Errors    []string `json:"errors"`
	Checked   int      `json:"checked"`
	Witnessed int      `json:"witnessed"`
}

func hashes(list [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, b := range list {
		copy(out[i][:], b)
	}
	return out
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "reading the request:", err)
		os.Exit(2)
	}
	res := response{Errors: []string{}}
	fail := func(format string, args ...any) { res.Errors = append(res.Errors, fmt.Sprintf(format, args...)) }

	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range req.Entries {
		h, err := tlog.StoredHashes(int64(i), e, reader)
		if err != nil {
			fail("storing entry %d: %v", i, err)
			break
		}
		stored = append(stored, h...)
	}
	treeHash := func(n int64) tlog.Hash {
		h, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("tree hash of size %d: %v", n, err)
		}
		return h
	}

	for _, r := range req.Roots {
		res.Checked++
		if h := treeHash(r.Size); !bytes.Equal(h[:], r.Root) {
			fail("root of size %d: Go computes %s, the operator %s", r.Size, h, base64.StdEncoding.EncodeToString(r.Root))
		}
	}
	for _, p := range req.Inclusion {
		res.Checked++
		if p.Index >= int64(len(req.Entries)) {
			fail("inclusion of %d: no such entry", p.Index)
			continue
		}
		if err := tlog.CheckRecord(hashes(p.Proof), p.Size, treeHash(p.Size), p.Index, tlog.RecordHash(req.Entries[p.Index])); err != nil {
			fail("inclusion of %d in %d: %v", p.Index, p.Size, err)
		}
		if want, err := tlog.ProveRecord(p.Size, p.Index, reader); err != nil || !equal(want, hashes(p.Proof)) {
			fail("inclusion of %d in %d: Go's proof differs (%v)", p.Index, p.Size, err)
		}
	}
	for _, p := range req.Consistency {
		res.Checked++
		if err := tlog.CheckTree(hashes(p.Proof), p.New, treeHash(p.New), p.Old, treeHash(p.Old)); err != nil {
			fail("consistency of %d with %d: %v", p.Old, p.New, err)
		}
		if want, err := tlog.ProveTree(p.New, p.Old, reader); err != nil || !equal(want, hashes(p.Proof)) {
			fail("consistency of %d with %d: Go's proof differs (%v)", p.Old, p.New, err)
		}
	}
	for _, t := range req.Tiles {
		res.Checked++
		tile := tlog.Tile{H: 8, L: t.Level, N: t.Index, W: t.Width}
		if t.Entries {
			tile.L = -1
		}
		// Go's paths carry the height ("tile/8/..."), and name entry bundles "data"; C2SP's do not.
		want := strings.Replace(strings.Replace(tile.Path(), "tile/8/", "tile/", 1), "tile/data/", "tile/entries/", 1)
		if want != t.Path {
			fail("tile path: Go says %s, the operator %s", want, t.Path)
		}
		if t.Entries {
			start := int(t.Index) * 256
			var bundle []byte
			for i := start; i < start+t.Width && i < len(req.Entries); i++ {
				bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(req.Entries[i])))
				bundle = append(bundle, req.Entries[i]...)
			}
			if !bytes.Equal(bundle, t.Data) {
				fail("entry bundle %s differs from the entries", t.Path)
			}
			continue
		}
		data, err := tlog.ReadTileData(tile, reader)
		if err != nil || !bytes.Equal(data, t.Data) {
			fail("tile %s: Go's tile data differs (%v)", t.Path, err)
		}
	}
	if req.Checkpoint != "" {
		res.Checked++
		logVerifier, err := note.NewVerifier(req.LogVkey)
		if err != nil {
			fail("log vkey: %v", err)
		} else {
			var witnesses []note.Verifier
			for _, k := range req.WitnessVkeys {
				w, err := fnote.NewVerifierForCosignatureV1(k)
				if err != nil {
					fail("witness vkey %s: %v", k, err)
					continue
				}
				witnesses = append(witnesses, w)
			}
			cp, _, n, err := log.ParseCheckpoint([]byte(req.Checkpoint), req.Origin, logVerifier, witnesses...)
			if err != nil {
				fail("checkpoint: %v", err)
			} else {
				res.Witnessed = len(n.Sigs) - 1
				if h := treeHash(int64(cp.Size)); !bytes.Equal(h[:], cp.Hash) {
					fail("checkpoint root for size %d is not the tree's", cp.Size)
				}
			}
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
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
