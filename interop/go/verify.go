// Command verify checks Countersign receipts and checkpoints with the Go
// reference implementations golang.org/x/mod/sumdb/note and .../tlog, not
// with Countersign's own code.
//
//	verify VKEY_FILE RECEIPT_FILE ENTRY_FILE
//	verify consistency VKEY_FILE OLD_CHECKPOINT NEW_CHECKPOINT PROOF_FILE
//
// A receipt is a c2sp.org/tlog-proof@v1; PROOF_FILE holds one base64 hash a
// line. Exits 0 when everything verifies, 1 with a message otherwise.
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

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "verify: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

// openCheckpoint verifies the signed note and answers its size and root.
func openCheckpoint(verifier note.Verifier, text []byte) (int64, tlog.Hash) {
	n, err := note.Open(text, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	// origin, size, root, optional extension lines, then the final "".
	if len(lines) < 4 || lines[len(lines)-1] != "" || lines[0] == "" {
		fail("malformed checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("bad checkpoint size %q", lines[1])
	}
	return size, hash(lines[2])
}

func verifier(vkeyFile string) note.Verifier {
	v, err := note.NewVerifier(strings.TrimSpace(string(read(vkeyFile))))
	if err != nil {
		fail("verifier key: %v", err)
	}
	return v
}

func receipt(v note.Verifier, text string, entry []byte) {
	head, cp, ok := strings.Cut(text, "\n\n")
	if !ok {
		fail("receipt has no checkpoint")
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		fail("not a c2sp.org/tlog-proof@v1: %q", lines[0])
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		fail("receipt has no index line")
	}
	idx := strings.TrimPrefix(lines[0], "index ")
	index, err := strconv.ParseInt(idx, 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != idx {
		fail("bad index %q", idx)
	}
	var proof tlog.RecordProof
	for _, l := range lines[1:] {
		proof = append(proof, hash(l))
	}
	size, root := openCheckpoint(v, []byte(cp))
	if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entry)); err != nil {
		fail("inclusion: %v", err)
	}
	fmt.Printf("ok: entry %d is in the tree of size %d\n", index, size)
}

func consistency(v note.Verifier, oldCp, newCp, proofText []byte) {
	oldSize, oldRoot := openCheckpoint(v, oldCp)
	newSize, newRoot := openCheckpoint(v, newCp)
	var proof tlog.TreeProof
	for _, l := range strings.Fields(string(proofText)) {
		proof = append(proof, hash(l))
	}
	if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
		fail("consistency: %v", err)
	}
	fmt.Printf("ok: tree of size %d extends tree of size %d\n", newSize, oldSize)
}

func main() {
	a := os.Args[1:]
	switch {
	case len(a) == 5 && a[0] == "consistency":
		consistency(verifier(a[1]), read(a[2]), read(a[3]), read(a[4]))
	case len(a) == 3:
		receipt(verifier(a[0]), string(read(a[1])), read(a[2]))
	default:
		fail("usage: verify VKEY RECEIPT ENTRY | verify consistency VKEY OLD_CP NEW_CP PROOF")
	}
}
