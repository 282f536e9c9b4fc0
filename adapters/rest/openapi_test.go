package rest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Every route the adapter serves is in the OpenAPI document, and every
// path of the document is served.
func TestOpenAPICoversTheRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	e := newEnv(t, nil, nil)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			concrete := param.ReplaceAllString(path, "x")
			req, _ := http.NewRequest(strings.ToUpper(method), "http://h"+concrete, nil)
			if _, pattern := e.a.mux.Handler(req); pattern == "/" || pattern == "" {
				t.Errorf("%s %s is documented but not served", strings.ToUpper(method), path)
			}
		}
	}
	status, hdr, body := e.do("GET", "/openapi.json", "", nil)
	if status != 200 || hdr.Get("Content-Type") != "application/json" || len(body) != len(openAPI) {
		t.Fatalf("%d %s", status, hdr)
	}
}
