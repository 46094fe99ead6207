//go:build tools

// Package tools pins the commands this module builds (prometheus and promtool); it is never
// compiled into anything. Prometheus publishes its Go module as v0.3XX.Y for release 3.XX.Y.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
