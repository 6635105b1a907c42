// Package api holds the OpenAPI description of Runbook's HTTP API, so the
// server can publish it and the documentation can be generated from it.
package api

import _ "embed"

// OpenAPI is openapi.yaml, byte for byte.
//
//go:embed openapi.yaml
var OpenAPI []byte
