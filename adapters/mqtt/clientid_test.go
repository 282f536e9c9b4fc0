package mqtt

import (
	"strings"
	"testing"
)

// Replicas built from one file get their own client ids from their
// environment, and a missing variable stops the adapter instead of making
// replicas share (and steal) one session.
func TestExpandClientID(t *testing.T) {
	env := map[string]string{"POD_NAME": "mesh-mqtt-1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"mesh-mqtt-{env.POD_NAME}":      "mesh-mqtt-mesh-mqtt-1",
		"fixed":                         "fixed",
		"{env.POD_NAME}/{env.POD_NAME}": "mesh-mqtt-1/mesh-mqtt-1",
		"{env.lower-case}":              "{env.lower-case}", // not a reference: left as written
	} {
		got, err := expandClientID(in, lookup)
		if err != nil || got != want {
			t.Errorf("expandClientID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"a-{env.MISSING}", "a-{env.EMPTY}"} {
		if _, err := expandClientID(in, lookup); err == nil || !strings.Contains(err.Error(), "downward API") {
			t.Errorf("expandClientID(%q): err %v, want one saying how to set the variable", in, err)
		}
	}
}
