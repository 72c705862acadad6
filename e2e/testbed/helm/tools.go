//go:build tools

// Package tools pins helm's command for `go build` in this wrapper module.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
