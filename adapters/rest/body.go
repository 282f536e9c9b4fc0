package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

// Content types of the REST Proxy v2 API.
const (
	contentTypeV2     = "application/vnd.kafka.v2+json"
	contentTypeJSON   = "application/json"
	formatBinary      = "binary"
	formatJSON        = "json"
	formatAvro        = "avro"
	formatJSONSchema  = "jsonschema"
	formatProtobuf    = "protobuf"
	mediaBinaryV2     = "application/vnd.kafka.binary.v2+json"
	mediaJSONV2       = "application/vnd.kafka.json.v2+json"
	mediaAvroV2       = "application/vnd.kafka.avro.v2+json"
	mediaJSONSchemaV2 = "application/vnd.kafka.jsonschema.v2+json"
	mediaProtobufV2   = "application/vnd.kafka.protobuf.v2+json"
)

// mediaType returns the media type of the request's Content-Type, lower
// case and without parameters ("" when absent or unreadable).
func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

// readBody reads the whole body within the adapter's limits: at most
// maxBytes (413 beyond) and within the read timeout from now (408 when the
// client is slower). Nothing is written before the body was read whole.
func readBody(w http.ResponseWriter, r *http.Request, maxBytes int64, timeout time.Duration) ([]byte, error) {
	if r.ContentLength > maxBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "Request body of %d bytes is over this adapter's limit of %d bytes: split the request.", r.ContentLength, maxBytes)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body := http.MaxBytesReader(w, r.Body, maxBytes)
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := io.Copy(&buf, body); err != nil {
		// The rest of the body is not worth waiting for: the connection
		// closes after the answer (the deadline stays, so nothing waits).
		w.Header().Set("Connection", "close")
		return nil, bodyError(err, maxBytes, timeout)
	}
	_ = rc.SetReadDeadline(time.Time{})
	return buf.Bytes(), nil
}

// bodyError turns a failure to read the body into the answer it deserves.
func bodyError(err error, maxBytes int64, timeout time.Duration) error {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "Request body is over this adapter's limit of %d bytes: split the request.", maxBytes)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errorf(http.StatusRequestTimeout, CodeRequestTimeout, "Request body not received within %s: send it faster or in smaller requests.", timeout)
	}
	return errorf(http.StatusBadRequest, CodeBadRequest, "Request body could not be read: %v", err)
}

// decodeJSON decodes body into v, answering 400 for malformed JSON and 422
// for JSON of the wrong shape, as the proxy does.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, CodeBadRequest, "Request body holds more than one JSON value: send one object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, CodeBadRequest, "Request body has data after its JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		field := ute.Field
		if field == "" {
			field = "the body"
		}
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: %s must be %s, not JSON %s.", field, ute.Type, ute.Value)
	}
	if errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, CodeBadRequest, "Request body is empty: send a JSON object.")
	}
	return errorf(http.StatusBadRequest, CodeBadRequest, "Malformed JSON: %v", err)
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// decodeStrict is decodeJSON refusing fields v does not have (422).
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: %v.", err)
		}
		return jsonError(err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, CodeBadRequest, "Request body holds more than one JSON value: send one object.")
	}
	return nil
}
