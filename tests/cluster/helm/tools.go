//go:build tools

// Package tools pins the command this module builds; it is never compiled into anything.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
