package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error codes of the API, as Confluent REST Proxy gives them in its error
// bodies ({"error_code": 40401, "message": "..."}): the HTTP status
// followed by two digits that say which problem it is. Clients written for
// the proxy match on them, so the numbers are the proxy's own.
const (
	CodeBadRequest        = 400   // malformed JSON or request
	CodeUnauthenticated   = 40101 // no or wrong credentials
	CodeForbidden         = 40301 // the principal may not do this
	CodeTopicNotFound     = 40401
	CodePartitionNotFound = 40402
	CodeConsumerNotFound  = 40403
	CodeNotFound          = 404 // no such route or resource
	CodeMethodNotAllowed  = 405
	CodeNotAcceptable     = 406
	CodeConsumerFormat    = 40601 // consumer's format does not match the Accept header
	CodeRequestTimeout    = 408   // the client sent its body too slowly
	CodeSchemaTimeout     = 40801 // the schema registry did not answer in time
	CodeConflict          = 409
	CodeAlreadySubscribed = 40901
	CodeConsumerExists    = 40902
	CodeIdempotencyBusy   = 40903 // a request with the same Idempotency-Key is in progress
	CodeIllegalState      = 40903 // a consumer instance asked for what its state does not allow
	CodeTooLarge          = 413
	CodeUnsupportedType   = 415
	CodeUnprocessable     = 422   // the body is JSON but not a valid request
	CodeKeySchemaMissing  = 42201 // keys without a key schema
	CodeValueSchemaMiss   = 42202 // values without a value schema
	CodeAvroConversion    = 42203 // a key or value does not fit its schema
	CodeInvalidConsumer   = 42204
	CodeInvalidSchema     = 42205
	CodeNoEventRoute      = 42206 // a CloudEvent whose type no rule maps to a topic
	CodeIdempotencyReuse  = 42207 // an Idempotency-Key reused with another request
	CodeTooManyRequests   = 429
	CodeInternal          = 50001
	CodeKafka             = 50002 // Kafka refused the record for good
	CodeKafkaRetriable    = 50003 // Kafka did not take the record; try again
	CodeUnavailable       = 50301 // the adapter is stopping or its registry is away
)

// apiError is an answer in the proxy's error format: the HTTP status, the
// proxy's error code and a message that says what to do.
type apiError struct {
	Status     int           `json:"-"`
	Code       int           `json:"error_code"`
	Message    string        `json:"message"`
	RetryAfter time.Duration `json:"-"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d: %s", e.Status, e.Code, e.Message) }

func errorf(status, code int, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func topicNotFound(topic string) *apiError {
	return errorf(http.StatusNotFound, CodeTopicNotFound, "Topic not found: %q does not exist at this site.", topic)
}

func partitionNotFound(topic string, p int32) *apiError {
	return errorf(http.StatusNotFound, CodePartitionNotFound, "Partition not found: topic %q has no partition %d.", topic, p)
}

// writeError answers with err in the proxy's format; an error that is not
// an *apiError is an internal error (its text is logged by the caller, not
// shown).
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, CodeInternal, "Internal error: %v", err)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, contentTypeV2, ae)
}

// writeJSON answers with v as JSON of the given content type.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error_code":50001,"message":"Internal error: the response could not be encoded."}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// recordErrorCode is the per-record error code of a produce that Kafka did
// not complete: retriable (try the request again) or not.
func recordErrorCode(err error) int {
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return CodeKafka
	}
	if errors.Is(err, errRecordTooLarge) {
		return CodeKafka
	}
	return CodeKafkaRetriable
}

var errRecordTooLarge = errors.New("record too large for the topic")

// retryAfterSeconds renders a Retry-After value: whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
