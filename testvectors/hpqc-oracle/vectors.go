package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/katzenpost/hpqc/bacap"
)

// The vector file format of ../data/bacap-hpqc.json. Field order is the file's.

type vectorFile struct {
	Aead   string        `json:"aead"`
	Cases  []*vectorCase `json:"cases"`
	Kdf    string        `json:"kdf"`
	Source string        `json:"source"`
}

type vectorCase struct {
	Name       string          `json:"name"`
	WriteCap   hexBytes        `json:"write_cap"`
	ReadCap    hexBytes        `json:"read_cap"`
	FirstIndex hexBytes        `json:"first_message_box_index"`
	Steps      []vectorStep    `json:"steps"`
	Tombstones []vectorTomb    `json:"tombstones"`
	Advances   []vectorAdvance `json:"advances"`
}

type vectorStep struct {
	Idx64      uint64   `json:"idx64"`
	Index      hexBytes `json:"message_box_index"`
	Ctx        hexBytes `json:"ctx"`
	BoxID      hexBytes `json:"box_id"`
	Plaintext  hexBytes `json:"plaintext"`
	Ciphertext hexBytes `json:"ciphertext"`
	Signature  hexBytes `json:"signature"`
}

type vectorTomb struct {
	Idx64     uint64   `json:"idx64"`
	Ctx       hexBytes `json:"ctx"`
	BoxID     hexBytes `json:"box_id"`
	Signature hexBytes `json:"signature"`
}

type vectorAdvance struct {
	FromIndex hexBytes `json:"from_index"`
	To        uint64   `json:"to"`
	Index     hexBytes `json:"message_box_index"`
	BoxID     hexBytes `json:"box_id_for_ctx"`
	Ctx       hexBytes `json:"ctx"`
}

// caseInput is what a case is computed from: its name, cap, and for every step, tombstone and
// advance the inputs alone. A vector case decodes into it too (the outputs are ignored).
type caseInput struct {
	Name     string   `json:"name"`
	WriteCap hexBytes `json:"write_cap"`
	Steps    []struct {
		Ctx       hexBytes `json:"ctx"`
		Plaintext hexBytes `json:"plaintext"`
	} `json:"steps"`
	Tombstones []struct {
		Idx64 uint64   `json:"idx64"`
		Ctx   hexBytes `json:"ctx"`
	} `json:"tombstones"`
	Advances []struct {
		To  uint64   `json:"to"`
		Ctx hexBytes `json:"ctx"`
	} `json:"advances"`
}

// orEmpty is b, or an empty byte string for an absent field.
func orEmpty(b hexBytes) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// advanceFrom is index advanced to counter to, bounded so that one request cannot run for hours.
func advanceFrom(index *bacap.MessageBoxIndex, to uint64) (*bacap.MessageBoxIndex, error) {
	if to > index.Idx64 && to-index.Idx64 > maxAdvance {
		return nil, badRequest{fmt.Sprintf("advance by more than %d", maxAdvance)}
	}
	return index.AdvanceIndexTo(to)
}

// computeCase computes every output of a case with hpqc: the caps, a box at each consecutive
// index from the first (EncryptForContext), each tombstone (SignBox over the empty payload) and
// each advance from the first index (AdvanceIndexTo, then BoxIDForContext).
func computeCase(in *caseInput) (*vectorCase, error) {
	if in.WriteCap == nil {
		return nil, missing("case.write_cap")
	}
	wc, err := bacap.NewWriteCapFromBytes(in.WriteCap)
	if err != nil {
		return nil, err
	}
	rc := wc.ReadCap()
	first := wc.GetFirstMessageBoxIndex()
	out := &vectorCase{
		Name:       in.Name,
		Steps:      make([]vectorStep, 0, len(in.Steps)),
		Tombstones: make([]vectorTomb, 0, len(in.Tombstones)),
		Advances:   make([]vectorAdvance, 0, len(in.Advances)),
	}
	if out.WriteCap, err = wc.MarshalBinary(); err != nil {
		return nil, err
	}
	if out.ReadCap, err = rc.MarshalBinary(); err != nil {
		return nil, err
	}
	if out.FirstIndex, err = first.MarshalBinary(); err != nil {
		return nil, err
	}
	index := first
	for i, s := range in.Steps {
		if i > 0 {
			if index, err = index.NextIndex(); err != nil {
				return nil, fmt.Errorf("steps[%d]: %w", i, err)
			}
		}
		ctx, plaintext := orEmpty(s.Ctx), orEmpty(s.Plaintext)
		id, ct, sig := index.EncryptForContext(wc, ctx, plaintext)
		mbi, err := index.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out.Steps = append(out.Steps, vectorStep{
			Idx64: index.Idx64, Index: mbi, Ctx: ctx, BoxID: id[:],
			Plaintext: plaintext, Ciphertext: ct, Signature: sig,
		})
	}
	for i, t := range in.Tombstones {
		at, err := advanceFrom(first, t.Idx64)
		if err != nil {
			return nil, fmt.Errorf("tombstones[%d]: %w", i, err)
		}
		ctx := orEmpty(t.Ctx)
		id, sig := at.SignBox(wc, ctx, []byte{})
		out.Tombstones = append(out.Tombstones, vectorTomb{
			Idx64: t.Idx64, Ctx: ctx, BoxID: id[:], Signature: sig,
		})
	}
	for i, a := range in.Advances {
		at, err := advanceFrom(first, a.To)
		if err != nil {
			return nil, fmt.Errorf("advances[%d]: %w", i, err)
		}
		mbi, err := at.MarshalBinary()
		if err != nil {
			return nil, err
		}
		ctx := orEmpty(a.Ctx)
		out.Advances = append(out.Advances, vectorAdvance{
			FromIndex: out.FirstIndex, To: a.To, Index: mbi,
			BoxID: at.BoxIDForContext(rc, ctx).Bytes(), Ctx: ctx,
		})
	}
	return out, nil
}

// regen prints the vector file at path with every output recomputed by hpqc. The inputs (names,
// caps, step contexts and plaintexts, tombstone counters and contexts, advance targets and
// contexts) are read from the file itself: they were drawn at random when the file was first
// made and cannot be derived from anything else.
func regen(path string, out io.Writer) error {
	if v := hpqcVersion(); v != pinnedVersion {
		return fmt.Errorf("built with hpqc %s, but the file's source names %s (commit %s): update pinnedVersion and pinnedCommit with go.mod", v, pinnedVersion, pinnedCommit)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var in struct {
		Cases []*caseInput `json:"cases"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	file := vectorFile{
		Aead:   "AES-256-GCM-SIV, nonce = box_id[:16], associated data = box_id",
		Kdf:    "HKDF with BLAKE2b-512",
		Source: "katzenpost/hpqc bacap (Go reference), commit " + pinnedCommit,
	}
	for _, c := range in.Cases {
		vc, err := computeCase(c)
		if err != nil {
			return fmt.Errorf("case %q: %w", c.Name, err)
		}
		file.Cases = append(file.Cases, vc)
	}
	text, err := json.MarshalIndent(file, "", " ")
	if err != nil {
		return err
	}
	_, err = out.Write(append(text, '\n'))
	return err
}
