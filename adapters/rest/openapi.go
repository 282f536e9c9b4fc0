package rest

import (
	_ "embed"
	"net/http"
)

// openAPI describes the whole HTTP surface (OpenAPI 3). The e2e tier checks
// the running server against it with schemathesis: every answer must
// match it, and none may be a 5xx.
//
//go:embed openapi.json
var openAPI []byte

// handleOpenAPI serves GET /openapi.json, without authentication.
func (a *Adapter) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
