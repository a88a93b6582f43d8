package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"github.com/katzenpost/hpqc/bacap"
)

// maxAdvance bounds how far one request may advance an index (the cost is linear).
const maxAdvance = 1 << 20

// capRandLen is how many random bytes bacap.NewWriteCap reads: the Ed25519 seed (32), the first
// KDF state (32) and the two 64-bit words summed into the starting counter (16).
const capRandLen = 32 + 32 + 16

// hexBytes is a byte string written as hex in JSON. A field absent from a request stays nil;
// "" decodes to an empty, non-nil slice.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	if b == nil {
		b = []byte{}
	}
	*h = b
	return nil
}

func (h hexBytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(h))
}

// request is every op's fields in one struct; each op uses its own.
type request struct {
	Op        string     `json:"op"`
	Rand      hexBytes   `json:"rand"`
	Case      *caseInput `json:"case"`
	WriteCap  hexBytes   `json:"write_cap"`
	ReadCap   hexBytes   `json:"read_cap"`
	Index     hexBytes   `json:"index"`
	To        *uint64    `json:"to"`
	Ctx       hexBytes   `json:"ctx"`
	Plaintext hexBytes   `json:"plaintext"`
	Payload   hexBytes   `json:"payload"`
	BoxID     hexBytes   `json:"box_id"`
	Signature hexBytes   `json:"signature"`
}

// badRequest marks an error in the request itself, as opposed to hpqc refusing it.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func missing(field string) error { return badRequest{"missing field " + field} }

func (req *request) handle() answer {
	result, err := req.run()
	var bad badRequest
	switch {
	case errors.As(err, &bad):
		return answer{Error: err.Error()}
	case err != nil:
		return answer{Refused: err.Error()}
	default:
		return answer{Ok: result}
	}
}

func (req *request) run() (any, error) {
	switch req.Op {
	case "hello":
		return map[string]string{"hpqc": hpqcVersion(), "commit": pinnedCommit, "go": runtime.Version()}, nil
	case "cap":
		return req.capFromRand()
	case "case":
		if req.Case == nil {
			return nil, missing("case")
		}
		return computeCase(req.Case)
	case "next":
		index, err := req.index()
		if err != nil {
			return nil, err
		}
		return indexResult(index.NextIndex())
	case "advance":
		index, err := req.index()
		if err != nil {
			return nil, err
		}
		if req.To == nil {
			return nil, missing("to")
		}
		return indexResult(advanceFrom(index, *req.To))
	case "box_id":
		return req.boxID()
	case "seal":
		return req.seal()
	case "sign", "tombstone":
		return req.sign()
	case "verify":
		return req.verify()
	case "open":
		return req.open()
	default:
		return nil, badRequest{fmt.Sprintf("unknown op %q", req.Op)}
	}
}

func (req *request) capFromRand() (any, error) {
	if len(req.Rand) != capRandLen {
		return nil, badRequest{fmt.Sprintf("rand must be %d bytes", capRandLen)}
	}
	src := bytes.NewReader(req.Rand)
	wc, err := bacap.NewWriteCap(src)
	if err != nil {
		return nil, err
	}
	if src.Len() != 0 {
		return nil, badRequest{fmt.Sprintf("hpqc read %d of the %d random bytes", capRandLen-src.Len(), capRandLen)}
	}
	out := struct {
		WriteCap   hexBytes `json:"write_cap"`
		ReadCap    hexBytes `json:"read_cap"`
		FirstIndex hexBytes `json:"first_message_box_index"`
	}{}
	if out.WriteCap, err = wc.MarshalBinary(); err != nil {
		return nil, err
	}
	if out.ReadCap, err = wc.ReadCap().MarshalBinary(); err != nil {
		return nil, err
	}
	if out.FirstIndex, err = wc.GetFirstMessageBoxIndex().MarshalBinary(); err != nil {
		return nil, err
	}
	return out, nil
}

func indexResult(index *bacap.MessageBoxIndex, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	b, err := index.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return struct {
		Index hexBytes `json:"message_box_index"`
	}{b}, nil
}

func (req *request) index() (*bacap.MessageBoxIndex, error) {
	if req.Index == nil {
		return nil, missing("index")
	}
	return bacap.NewEmptyMessageBoxIndexFromBytes(req.Index)
}

func (req *request) writeCap() (*bacap.WriteCap, error) {
	if req.WriteCap == nil {
		return nil, missing("write_cap")
	}
	return bacap.NewWriteCapFromBytes(req.WriteCap)
}

func (req *request) readCap() (*bacap.ReadCap, error) {
	if req.ReadCap == nil {
		return nil, missing("read_cap")
	}
	return bacap.ReadCapFromBytes(req.ReadCap)
}

func (req *request) ctx() ([]byte, error) {
	if req.Ctx == nil {
		return nil, missing("ctx")
	}
	return req.Ctx, nil
}

// box decodes box_id and signature, which must have their exact sizes.
func (req *request) box() (id [bacap.BoxIDSize]byte, sig [bacap.SignatureSize]byte, err error) {
	if len(req.BoxID) != bacap.BoxIDSize {
		return id, sig, badRequest{fmt.Sprintf("box_id must be %d bytes", bacap.BoxIDSize)}
	}
	if len(req.Signature) != bacap.SignatureSize {
		return id, sig, badRequest{fmt.Sprintf("signature must be %d bytes", bacap.SignatureSize)}
	}
	if req.Payload == nil {
		return id, sig, missing("payload")
	}
	copy(id[:], req.BoxID)
	copy(sig[:], req.Signature)
	return id, sig, nil
}

func (req *request) boxID() (any, error) {
	rc, err := req.readCap()
	if err != nil {
		return nil, err
	}
	index, err := req.index()
	if err != nil {
		return nil, err
	}
	ctx, err := req.ctx()
	if err != nil {
		return nil, err
	}
	return struct {
		BoxID hexBytes `json:"box_id"`
	}{index.BoxIDForContext(rc, ctx).Bytes()}, nil
}

func (req *request) seal() (any, error) {
	wc, err := req.writeCap()
	if err != nil {
		return nil, err
	}
	index, err := req.index()
	if err != nil {
		return nil, err
	}
	ctx, err := req.ctx()
	if err != nil {
		return nil, err
	}
	if req.Plaintext == nil {
		return nil, missing("plaintext")
	}
	id, ct, sig := index.EncryptForContext(wc, ctx, req.Plaintext)
	return struct {
		BoxID      hexBytes `json:"box_id"`
		Ciphertext hexBytes `json:"ciphertext"`
		Signature  hexBytes `json:"signature"`
	}{id[:], ct, sig}, nil
}

// sign signs payload (empty for "tombstone") with the blinded key of the box at index in ctx.
func (req *request) sign() (any, error) {
	wc, err := req.writeCap()
	if err != nil {
		return nil, err
	}
	index, err := req.index()
	if err != nil {
		return nil, err
	}
	ctx, err := req.ctx()
	if err != nil {
		return nil, err
	}
	payload := []byte{}
	if req.Op == "sign" {
		if req.Payload == nil {
			return nil, missing("payload")
		}
		payload = req.Payload
	}
	id, sig := index.SignBox(wc, ctx, payload)
	return struct {
		BoxID     hexBytes `json:"box_id"`
		Signature hexBytes `json:"signature"`
	}{id[:], sig}, nil
}

// verify checks the box's signature under its ID alone, as storage does.
func (req *request) verify() (any, error) {
	id, sig, err := req.box()
	if err != nil {
		return nil, err
	}
	// VerifyBox does not use its receiver's keys.
	ok, _ := new(bacap.MessageBoxIndex).VerifyBox(id, req.Payload, sig[:])
	return struct {
		Accept bool `json:"accept"`
	}{ok}, nil
}

// open reads the box as a reader whose next index is index: the box ID must be the one expected
// there, the signature must verify and the payload must decrypt (or be a tombstone's).
func (req *request) open() (any, error) {
	rc, err := req.readCap()
	if err != nil {
		return nil, err
	}
	index, err := req.index()
	if err != nil {
		return nil, err
	}
	ctx, err := req.ctx()
	if err != nil {
		return nil, err
	}
	id, sig, err := req.box()
	if err != nil {
		return nil, err
	}
	reader, err := bacap.NewStatefulReaderWithIndex(rc, ctx, index)
	if err != nil {
		return nil, err
	}
	plaintext, err := reader.DecryptNext(ctx, id, req.Payload, sig)
	if err != nil {
		return nil, err
	}
	return struct {
		Plaintext hexBytes `json:"plaintext"`
	}{plaintext}, nil
}
