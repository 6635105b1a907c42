// Package schema holds the JSON Schema of .runbook.yml, for editors
// (yaml-language-server) and for the server to publish.
package schema

import _ "embed"

// JSON is runbook.schema.json (JSON Schema draft-07, the draft
// yaml-language-server supports most completely).
//
//go:embed runbook.schema.json
var JSON []byte
