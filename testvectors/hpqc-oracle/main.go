// Command hpqc-oracle answers BACAP questions with what Katzenpost's Go reference
// (github.com/katzenpost/hpqc, package bacap, at the version pinned in go.mod) computes, so that
// the Rust implementation in ../../bacap can be compared with it on any input.
//
// Usage:
//
//	hpqc-oracle serve        answer requests: one JSON object per line on stdin, one per line on stdout
//	hpqc-oracle regen FILE   print the vector file FILE with every output field recomputed by hpqc
//	hpqc-oracle version      print the hpqc version and commit this binary was built with
//
// # The serve protocol
//
// Every request is one line holding a JSON object with an "op" and the op's fields; byte strings
// are lowercase hex, counters are JSON integers (full 64-bit range). Every answer is one line:
//
//	{"ok": {...}}          the op's result
//	{"refused": "why"}     hpqc returned an error (a legitimate outcome, e.g. a rejected box)
//	{"error": "why"}       the request itself was malformed (a bug in whoever sent it)
//
// The ops (inputs -> fields of "ok"):
//
//	hello      -                                        -> hpqc, commit, go
//	cap        rand (80 bytes: ed25519 seed 32, KDF state 32, counter draw 16)
//	                                                    -> write_cap, read_cap, first_message_box_index
//	case       case (a vector case's inputs: name, write_cap, steps[].ctx/plaintext,
//	           tombstones[].idx64/ctx, advances[].to/ctx) -> the whole case as in bacap-hpqc.json
//	next       index                                    -> message_box_index
//	advance    index, to                                -> message_box_index
//	box_id     read_cap, index, ctx                     -> box_id
//	seal       write_cap, index, ctx, plaintext         -> box_id, ciphertext, signature
//	sign       write_cap, index, ctx, payload           -> box_id, signature
//	tombstone  write_cap, index, ctx                    -> box_id, signature
//	verify     box_id, payload, signature               -> accept (bool)
//	open       read_cap, index, ctx, box_id, payload, signature
//	                                                    -> plaintext (a reader positioned at index
//	                                                       reads the box, as StatefulReader.DecryptNext)
//
// "cap" feeds the 80 bytes to bacap.NewWriteCap as its random source, so the caller can derive
// the same cap from the same bytes. "sign" signs an arbitrary payload with the box's blinded key,
// which lets a caller make a box whose signature verifies but whose ciphertext does not decrypt.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

const (
	hpqcPath = "github.com/katzenpost/hpqc"
	// pinnedVersion and pinnedCommit name the hpqc go.mod requires; `regen` writes the commit
	// into the vector file's "source" and refuses to run when built against another version.
	pinnedVersion = "v0.0.74"
	pinnedCommit  = "efdbf2b"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hpqc-oracle:", err)
			os.Exit(1)
		}
	case "regen":
		if len(os.Args) != 3 {
			usage()
		}
		if err := regen(os.Args[2], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hpqc-oracle regen:", err)
			os.Exit(1)
		}
	case "version":
		fmt.Printf("hpqc %s (commit %s), %s\n", hpqcVersion(), pinnedCommit, runtime.Version())
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hpqc-oracle serve | regen FILE | version")
	os.Exit(2)
}

// hpqcVersion is the version of hpqc this binary was built with, from its build information.
func hpqcVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == hpqcPath {
			if dep.Replace != nil {
				return dep.Version + " replaced by " + dep.Replace.Path + " " + dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}

// serve answers requests from in, one line each, until in ends.
func serve(in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriterSize(out, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			answer, jerr := json.Marshal(handleLine(line))
			if jerr != nil {
				return jerr
			}
			if _, werr := w.Write(append(answer, '\n')); werr != nil {
				return werr
			}
			// The caller waits for each answer before it sends the next request.
			if werr := w.Flush(); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// answer is one line of output; exactly one field is set.
type answer struct {
	Ok      any    `json:"ok,omitempty"`
	Refused string `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
}

// handleLine decodes and answers one request, turning a panic inside hpqc into an error answer
// so that one bad request cannot end the session.
func handleLine(line []byte) (a answer) {
	defer func() {
		if p := recover(); p != nil {
			a = answer{Error: fmt.Sprintf("hpqc panicked: %v", p)}
		}
	}()
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return answer{Error: "bad request: " + err.Error()}
	}
	return req.handle()
}
