package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunReportsConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "amqp.yaml")
	doc := "site: east\nbroker:\n  url: amqp://127.0.0.1:5672\negress:\n  - topics: [t]\n    address: \"{header.mesh_reply_to}\"\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	err := command.Run(context.Background(), []string{"-config", file}, io.Discard, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "amqp.yaml:5:5: field egress[0].allow: required") {
		t.Fatalf("got %v", err)
	}
}
