//go:build tools

// Keeps the etcd server module (a main package) required by `go mod tidy`.
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
