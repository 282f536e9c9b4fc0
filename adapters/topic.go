package adapters

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTopicLen is the longest event topic an adapter writes: Kafka's limit
// (249) less the dead-letter prefix, so that every topic has a dead-letter
// topic.
const MaxTopicLen = 249 - len("_mesh.dlq.")

// ErrBadTopic is wrapped by Topic's errors.
var ErrBadTopic = errors.New("not a topic an adapter may write")

// Topic turns a rendered name into the Kafka topic an adapter writes:
// characters a Kafka topic cannot hold (other than ASCII letters, digits,
// '.', '_' and '-') become '_'. It refuses, wrapping ErrBadTopic, a name
// that is empty, "." or "..", longer than MaxTopicLen, or that starts
// with '_': those topics belong to the mesh (_mesh.*), the schema registry
// (_schemas) and Kafka itself (__consumer_offsets, __transaction_state),
// and a device or client must never write into them, whatever it names.
func Topic(rendered string) (string, error) {
	t := SanitizeTopic(rendered)
	switch {
	case t == "" || t == "." || t == "..":
		return "", fmt.Errorf("%w: %q is empty", ErrBadTopic, rendered)
	case len(t) > MaxTopicLen:
		return "", fmt.Errorf("%w: %q is longer than %d characters", ErrBadTopic, truncate(rendered, 64), MaxTopicLen)
	case strings.HasPrefix(t, "_"):
		return "", fmt.Errorf("%w: %q starts with _, which marks the topics of the mesh, the schema registry and Kafka itself", ErrBadTopic, t)
	}
	return t, nil
}

// SanitizeTopic replaces the characters a Kafka topic cannot hold with '_'.
func SanitizeTopic(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !topicChar(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !topicChar(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

// LegalTopic reports whether s is a legal Kafka topic name as written.
func LegalTopic(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 249 && SanitizeTopic(s) == s
}

func topicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
