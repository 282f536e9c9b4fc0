package traceindex

import _ "embed"

// OpenAPI is the OpenAPI 3.1 fragment of Handler's two paths and their
// schemas, for the control plane's /openapi.json to merge (its paths and
// components.schemas).
//
//go:embed openapi.json
var OpenAPI []byte
