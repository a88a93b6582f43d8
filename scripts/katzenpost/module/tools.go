//go:build tools

// This file only pins which Katzenpost commands scripts/katzenpost/kp installs;
// it is never built. The module exists so that `go install` resolves every
// command at the one tagged version in go.mod, checked against go.sum.
package tools

import (
	_ "github.com/katzenpost/katzenpost/cmd/courier"
	_ "github.com/katzenpost/katzenpost/cmd/dirauth"
	_ "github.com/katzenpost/katzenpost/cmd/genconfig"
	_ "github.com/katzenpost/katzenpost/cmd/kpclientd"
	_ "github.com/katzenpost/katzenpost/cmd/replica"
	_ "github.com/katzenpost/katzenpost/cmd/server"
)
