package rest

import (
	"bytes"
	"testing"
)

var binaryBodies = []string{
	`{"records":[{"value":"S2Fma2E="}]}`,
	`{"records":[{"key":"a2V5","value":"dmFsdWU=","partition":1},{"value":null},{"key":null,"value":""}]}`,
	" {\n\t\"records\" : [ { \"partition\" : 0 , \"value\" : \"YQ==\" } ] }\r\n",
	`{"records":[]}`,
	`{"records":[{"partition":-0,"value":"YQ=="},{"partition":2147483647},{"partition":null}]}`,
	`{"records":[{"partition":-1}]}`,
	`{"records":[{"value":"YQ==","value":null}]}`,
	`{"records":[{"value":"Y\u0051=="}]}`,
	`{"records":[{"value":"YQ=\n="}]}`,
	`{"records":[{"Value":"YQ=="}]}`,
	`{"records":[{"value":"YQ=="}],"records":[{"key":"YQ=="}]}`,
	`{"records":null}`,
	`{"records":[{"partition":01}]}`,
	`{"records":[{"partition":1.0}]}`,
	`{"records":[{"partition":2147483648}]}`,
	`{"records":[{"value":"***"}]}`,
	`{"records":[{"value":"YQ=="}]} x`,
	`{"records":[{"value":"YQ=="},]}`,
	`{"records":[{"value":"YQ==",}]}`,
	`{"records":[{"value":"YQ==","extra":1}]}`,
}

// The fast path reads exactly what encoding/json reads, for every body it
// takes; everything else goes to encoding/json.
func FuzzBinaryFast(f *testing.F) {
	for _, b := range binaryBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseBinaryFast(body)
		if !ok {
			return
		}
		slow, err := parseBinary(body)
		if err != nil {
			t.Fatalf("fast path took %q, which encoding/json refuses: %v", body, err)
		}
		if len(fast) != len(slow) {
			t.Fatalf("%q: %d records fast, %d slow", body, len(fast), len(slow))
		}
		for i := range fast {
			f, s := fast[i], slow[i]
			if !bytes.Equal(f.Key, s.Key) || (f.Key == nil) != (s.Key == nil) || !bytes.Equal(f.Value, s.Value) ||
				(f.Value == nil) != (s.Value == nil) || f.HasPartition != s.HasPartition || f.Partition != s.Partition {
				t.Fatalf("%q record %d: fast %+v, slow %+v", body, i, f, s)
			}
		}
	})
}

// What load tools and Confluent's examples send takes the fast path.
func TestBinaryFastPathTakesTheCommonShape(t *testing.T) {
	for _, b := range binaryBodies[:7] {
		if _, ok := parseBinaryFast([]byte(b)); !ok {
			t.Errorf("%s: not taken by the fast path", b)
		}
	}
	for _, b := range binaryBodies[7:] {
		if _, ok := parseBinaryFast([]byte(b)); ok {
			t.Errorf("%s: taken by the fast path, which should leave it to encoding/json", b)
		}
	}
}
