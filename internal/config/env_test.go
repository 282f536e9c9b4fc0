package config

import (
	"errors"
	"strings"
	"testing"
)

// ${NAME} takes the environment's value before parsing, so that replicas
// sharing one file differ where they must; an unset variable is an error
// at its line, and $${ writes the text itself.
func TestEnvironmentReferences(t *testing.T) {
	env := map[string]string{"POD_NAME": "mesh-mqtt-1", "PORT": "9092", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	doc := "name: ${POD_NAME}-x\nsites:\n  east:\n    kafka:\n      brokers: [\"k:${PORT}\", \"$${PORT}:1${EMPTY}\"]\n"
	var c testConfig
	if err := parse("t.yaml", []byte(doc), &c, lookup); err != nil {
		t.Fatal(err)
	}
	if c.Name != "mesh-mqtt-1-x" || strings.Join(c.Sites["east"].Kafka.Brokers, ",") != "k:9092,${PORT}:1" {
		t.Fatalf("got %+v", c)
	}

	doc = "name: a\nsites:\n  east:\n    kafka: {brokers: [\"${NOPE}:1\"]}\n"
	err := parse("t.yaml", []byte(doc), &testConfig{}, lookup)
	var e *Error
	if !errors.As(err, &e) || e.Line != 4 || !strings.Contains(e.Msg, "NOPE is not set") {
		t.Fatalf("unset variable: %v, want an error at line 4 naming NOPE", err)
	}
}
