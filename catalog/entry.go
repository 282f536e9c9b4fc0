package catalog

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meshwork/meshwork/internal/envelope"
)

// Role says how a site came to hold a topic (the contract's TopicRole).
type Role int8

const (
	// RoleOrigin: the topic was created at the site by its users.
	RoleOrigin Role = iota
	// RoleCopy: the mesh created it at the site because another site
	// holds it.
	RoleCopy
)

var roleSymbols = [...]string{"ORIGIN", "COPY"}

// String returns the contract's symbol.
func (r Role) String() string {
	if r < 0 || int(r) >= len(roleSymbols) {
		return fmt.Sprintf("Role(%d)", int8(r))
	}
	return roleSymbols[r]
}

// Entry is one site's holding of one topic.
type Entry struct {
	// Site holds Topic.
	Site  string
	Topic string
	Role  Role
	// Partitions is the topic's partition count at Site.
	Partitions int32
	// Configs are the topic configs set on the topic at Site that a copy
	// takes over (see replicator's mirrored configs).
	Configs map[string]string
	// Updated is when Site last changed the entry; the codec keeps
	// milliseconds.
	Updated time.Time
}

// Key returns the entry's record key in Topic: <site>/<topic>. Neither a
// site name nor a topic name can hold '/'.
func (e Entry) Key() string { return e.Site + "/" + e.Topic }

// Limits of an entry, well above what Kafka topics have, so a corrupt or
// hostile record cannot make a site create something absurd.
const (
	MaxPartitions  = 100_000
	maxConfigs     = 64
	maxConfigKey   = 255
	maxConfigValue = 4096
)

// ErrInvalidEntry is wrapped by every validation error.
var ErrInvalidEntry = errors.New("invalid catalog entry")

// Validate checks the entry against the contract and this package's rules;
// the error lists every problem found.
func (e Entry) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if err := envelope.ValidSite(e.Site); err != nil {
		add("site %q: %v", e.Site, err)
	}
	if err := validTopic(e.Topic); err != nil {
		add("%v", err)
	}
	if e.Role != RoleOrigin && e.Role != RoleCopy {
		add("unknown role %d", e.Role)
	}
	if e.Partitions < 1 || e.Partitions > MaxPartitions {
		add("partitions %d: want 1 to %d", e.Partitions, MaxPartitions)
	}
	if len(e.Configs) > maxConfigs {
		add("%d configs: at most %d", len(e.Configs), maxConfigs)
	}
	for k, v := range e.Configs {
		if k == "" || len(k) > maxConfigKey || len(v) > maxConfigValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			add("config %.64q: a name of 1 to %d bytes and a value of at most %d, both UTF-8", k, maxConfigKey, maxConfigValue)
		}
	}
	if e.Updated.IsZero() {
		add("updated is not set")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s): %s", ErrInvalidEntry, e.Key(), strings.Join(problems, "; "))
}

// Same reports whether two entries say the same but for when they were
// updated.
func (e Entry) Same(o Entry) bool {
	return e.Site == o.Site && e.Topic == o.Topic && e.Role == o.Role && e.Partitions == o.Partitions && maps.Equal(e.Configs, o.Configs)
}

// validTopic checks that t is a topic the catalog describes: a legal Kafka
// topic name that is not the mesh's, the registry's or Kafka's own (those
// start with '_').
func validTopic(t string) error {
	switch {
	case t == "" || t == "." || t == "..":
		return fmt.Errorf("topic %q is not a valid name", t)
	case len(t) > 249:
		return fmt.Errorf("topic %.64q... is longer than 249 characters", t)
	case strings.HasPrefix(t, "_"):
		return fmt.Errorf("topic %q starts with _: the mesh's, the registry's and Kafka's own topics are not catalogued", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic %q: Kafka topic names are letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}

// Catalogued reports whether a topic belongs in the catalog: every legal
// topic name but the mesh's, the registry's and Kafka's own.
func Catalogued(topic string) bool { return validTopic(topic) == nil }
