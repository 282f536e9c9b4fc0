package avrocompat

import (
	"fmt"
	"strings"
)

// Level is a compatibility level, spelled as in the Confluent Schema Registry
// API (the "compatibility" of PUT /config).
type Level string

// The compatibility levels.
const (
	// None checks nothing.
	None Level = "NONE"
	// Backward: the new schema can read data written with the latest version.
	Backward Level = "BACKWARD"
	// BackwardTransitive: the new schema can read data written with every version.
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	// Forward: the latest version can read data written with the new schema.
	Forward Level = "FORWARD"
	// ForwardTransitive: every version can read data written with the new schema.
	ForwardTransitive Level = "FORWARD_TRANSITIVE"
	// Full: both Backward and Forward.
	Full Level = "FULL"
	// FullTransitive: both BackwardTransitive and ForwardTransitive.
	FullTransitive Level = "FULL_TRANSITIVE"
)

// Levels lists every level, in the order the API documents them.
var Levels = []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// ParseLevel parses a level, ignoring case ("backward" is Backward). Its
// error wraps ErrInvalidLevel and lists the valid levels.
func ParseLevel(s string) (Level, error) {
	for _, l := range Levels {
		if strings.EqualFold(s, string(l)) {
			return l, nil
		}
	}
	names := make([]string, len(Levels))
	for i, l := range Levels {
		names[i] = string(l)
	}
	return "", fmt.Errorf("%w %q: valid levels are %s", ErrInvalidLevel, s, strings.Join(names, ", "))
}

// Valid reports whether l is one of Levels, spelled exactly.
func (l Level) Valid() bool {
	for _, v := range Levels {
		if l == v {
			return true
		}
	}
	return false
}

// Transitive reports whether l checks against every existing version rather
// than only the latest.
func (l Level) Transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// backward reports whether l requires the new schema to read old data.
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

// forward reports whether l requires old schemas to read new data.
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}
