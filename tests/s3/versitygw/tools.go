//go:build tools

// Package tools pins the S3 server the store's integration test runs against; it is never
// compiled into anything. VersityGW is a real S3 gateway (SigV4, multipart, conditional
// writes) over a POSIX directory, not a mock of the S3 API.
package tools

import (
	_ "github.com/versity/versitygw/cmd/versitygw"
)
