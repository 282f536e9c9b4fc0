package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/registry/serde"
)

// Formats a rule with a schema accepts.
const (
	// FormatJSON: the payload is a JSON document, encoded to Avro in the
	// Confluent wire format with the latest schema registered under the
	// subject <kafka topic>-value.
	FormatJSON = "json"
	// FormatAvro: the payload is already Avro in the Confluent wire format
	// and must decode with the registered schema it names.
	FormatAvro = "avro"
)

// AvroContentType is the content-type of events in the Confluent wire
// format.
const AvroContentType = "application/vnd.apache.avro+binary"

// Schemas enforces the registered schemas of Kafka topics on payloads.
type Schemas struct {
	serde *serde.Serde
	log   *slog.Logger
	m     *Metrics
}

// NewSchemas uses the registry reg, encoding with the latest version of
// each topic's value subject, so that devices and clients need not know
// schema ids.
func NewSchemas(reg Registry, log *slog.Logger, m *Metrics) (*Schemas, error) {
	hc, err := reg.HTTPClient(10 * time.Second)
	if err != nil {
		return nil, err
	}
	cl, err := sr.NewClient(sr.URLs(reg.URL), sr.HTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", reg.URL, err)
	}
	s, err := serde.New(cl, serde.UseLatest(true))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", reg.URL, err)
	}
	return &Schemas{serde: s, log: log, m: m}, nil
}

// HTTPClient is a client of the registry whose requests take at most
// timeout, with the tls section's CA and client certificate for an https
// URL, and the credentials on every request. It reads those files.
func (r Registry) HTTPClient(timeout time.Duration) (*http.Client, error) {
	tc, err := r.TLS.Client("registry.tls")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	rt, err := r.Credentials.Transport(tr, "registry")
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: timeout, Transport: rt}, nil
}

// Enforce returns value as topic's schema wants it: JSON encoded to Avro
// (FormatJSON), or Avro checked against the schema it names (FormatAvro).
// A payload that does not fit, or a topic without a registered schema, is
// an error to dead-letter (see PayloadError). A registry that does not
// answer is waited out, with backoff, until ctx ends: the pipeline (and so
// the acknowledgements) is held back as by a Kafka outage.
func (s *Schemas) Enforce(ctx context.Context, format, topic string, value []byte) ([]byte, error) {
	var out []byte
	err := retry.Until(ctx, 5*time.Second, func() error {
		var err error
		switch format {
		case FormatJSON:
			out, err = s.serde.EncodeJSON(ctx, topic, "", value)
		case FormatAvro:
			out = value
			_, err = s.serde.Validate(ctx, value)
		default:
			err = fmt.Errorf("unknown schema format %q", format)
		}
		if PayloadError(err) {
			return retry.Permanent(err)
		}
		return err
	}, func(err error, attempt int, wait time.Duration) {
		s.m.Retry("registry")
		s.log.Warn("schema registry unavailable; trying again", "topic", topic, "attempt", attempt, "in", wait, "error", err)
	})
	return out, err
}

// PayloadError reports whether err says that a payload does not fit its
// topic's schema (or that the topic has none registered), as opposed to a
// registry that does not answer.
func PayloadError(err error) bool {
	for _, target := range []error{serde.ErrPayloadMismatch, serde.ErrNotFramed, serde.ErrUnknownID, serde.ErrNotRegistered, serde.ErrInvalidSchema} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
