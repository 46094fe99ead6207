//go:build tools

// Package tools pins the commands this module builds; it is never compiled into anything.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
