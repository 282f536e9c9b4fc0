package avrocompat

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    Level
		wantErr bool
	}{
		{"NONE", None, false},
		{"backward", Backward, false},
		{"Backward_Transitive", BackwardTransitive, false},
		{"FORWARD", Forward, false},
		{"forward_transitive", ForwardTransitive, false},
		{"full", Full, false},
		{"FULL_TRANSITIVE", FullTransitive, false},
		{"", "", true},
		{"TRANSITIVE", "", true},
		{" FULL", "", true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidLevel) {
				t.Errorf("ParseLevel(%q) error %v does not wrap ErrInvalidLevel", tt.in, err)
			}
			for _, l := range Levels {
				if !strings.Contains(err.Error(), string(l)) {
					t.Errorf("ParseLevel(%q) error %q does not list %s", tt.in, err, l)
				}
			}
		}
	}
}

func TestLevelProperties(t *testing.T) {
	for _, l := range Levels {
		if !l.Valid() {
			t.Errorf("%s not valid", l)
		}
		wantT := strings.HasSuffix(string(l), "_TRANSITIVE")
		if l.Transitive() != wantT {
			t.Errorf("%s.Transitive() = %v", l, l.Transitive())
		}
	}
	if Level("backward").Valid() {
		t.Error("lower-case level reported valid")
	}
}
