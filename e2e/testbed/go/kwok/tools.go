//go:build tools

// Keeps KWOK required by `go mod tidy`.
package tools

import _ "sigs.k8s.io/kwok/pkg/kwok/cmd"
