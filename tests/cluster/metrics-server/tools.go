//go:build tools

// Package tools pins the commands this module builds; it is never compiled into anything.
package tools

import (
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
