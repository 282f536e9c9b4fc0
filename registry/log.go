package registry

import (
	"encoding/json"
	"fmt"
)

// The _schemas topic holds one record per change, with keys and values in
// JSON as Confluent Schema Registry writes them, so the log can be read with
// ordinary tools (kcat, kafka-console-consumer) and by people.
//
// Key types written by Confluent's registry and understood here: SCHEMA,
// CONFIG, MODE, DELETE_SUBJECT, NOOP. Meshwork adds two, prefixed MESH_, that
// Confluent's registry does not write: MESH_MAXID keeps the highest schema id
// ever assigned across hard deletes and compaction, so an id is never reused;
// MESH_LEADER announces the instance that currently writes.
//
// Every write of a Meshwork leader ends with a NOOP record whose value is
// the write's mark, {"position": p} (see writeMark): it lets an instance
// reading a copy of the log, with other offsets, tell how far it has come.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyNoop          = "NOOP"
	keyMaxID         = "MESH_MAXID"
	keyLeader        = "MESH_LEADER"
)

// logKey is the JSON key of a _schemas record. Field order and magic values
// follow Confluent's registry (magic 1 for SCHEMA keys, 0 for the others).
type logKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

func schemaKey(subject string, version int) logKey {
	return logKey{KeyType: keySchema, Subject: &subject, Version: version, Magic: 1}
}

// configKey and modeKey take "" for the global setting, written with a null
// subject as Confluent does.
func configKey(subject string) logKey { return logKey{KeyType: keyConfig, Subject: nullable(subject)} }
func modeKey(subject string) logKey   { return logKey{KeyType: keyMode, Subject: nullable(subject)} }
func maxIDKey() logKey                { return logKey{KeyType: keyMaxID} }
func leaderKey() logKey               { return logKey{KeyType: keyLeader} }
func noopKey() logKey                 { return logKey{KeyType: keyNoop} }

func deleteSubjectKey(subject string) logKey {
	return logKey{KeyType: keyDeleteSubject, Subject: &subject}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// MarshalJSON writes "subject": null for global CONFIG and MODE keys, as
// Confluent's registry does, while SCHEMA keys always carry a subject.
func (k logKey) MarshalJSON() ([]byte, error) {
	type plain logKey
	if k.Subject == nil && (k.KeyType == keyConfig || k.KeyType == keyMode) {
		return json.Marshal(struct {
			KeyType string  `json:"keytype"`
			Subject *string `json:"subject"`
			Magic   int     `json:"magic"`
		}{k.KeyType, nil, k.Magic})
	}
	return json.Marshal(plain(k))
}

// schemaValue is the value of a SCHEMA record.
type schemaValue struct {
	Subject    string          `json:"subject"`
	Version    int             `json:"version"`
	ID         int             `json:"id"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Schema     string          `json:"schema"`
	Deleted    bool            `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

type maxIDValue struct {
	MaxID int `json:"maxId"`
}

type leaderValue struct {
	URL      string `json:"url"`
	Instance string `json:"instance"`
}

// writeMark is the value of the NOOP record that ends every write of a
// leader. Position is the next offset of the primary's log when the write
// was planned: the leader plans each write from state that has applied
// the whole log before it (the writer's turn is held from the plan to the
// apply, and a new leader plans nothing before its announcement is
// applied), so positions grow strictly along the log. An instance that has
// applied the mark of position p has applied that write and every one
// before it, whether it reads the primary's log or a copy of it with other
// offsets (the replicator's, at another site). All marks share one key, so
// compaction keeps the newest, and the highest position survives it.
type writeMark struct {
	Position int64 `json:"position"`
}

// logRecord is one change to write: a key and a value, nil for a tombstone.
type logRecord struct {
	key   logKey
	value any
}

func (r logRecord) encode() (k, v []byte, err error) {
	if k, err = json.Marshal(r.key); err != nil {
		return nil, nil, fmt.Errorf("encode _schemas key: %w", err)
	}
	if r.value == nil {
		return k, nil, nil
	}
	if v, err = json.Marshal(r.value); err != nil {
		return nil, nil, fmt.Errorf("encode _schemas value: %w", err)
	}
	return k, v, nil
}
