// The live oracle for BACAP: answers with what Katzenpost's Go reference computes.
// See main.go; run it through `scripts/regen-hpqc-vectors` or `cargo test -p bacap --test differential`.
module bacap-chat/testvectors/hpqc-oracle

go 1.26

// v0.0.74 is hpqc commit efdbf2bc3acaa943da3f2a9e207fdca0837dfea7, the commit that made
// ../data/bacap-hpqc.json. Bump pinnedVersion and pinnedCommit in main.go with it.
require github.com/katzenpost/hpqc v0.0.74

require (
	filippo.io/edwards25519 v1.1.1 // indirect
	github.com/agl/gcmsiv v0.0.0-20190418185415-e8dcd2f151dc // indirect
	github.com/fxamacker/cbor/v2 v2.7.0 // indirect
	github.com/katzenpost/chacha20 v0.0.0-20190910113340-7ce890d6a556 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/crypto v0.36.0 // indirect
	golang.org/x/sys v0.31.0 // indirect
)
