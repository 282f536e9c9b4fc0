package adapters

import (
	"errors"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	known := func(n string) bool { return n == "site" || n == "topic" }
	tm, err := ParseTemplate("plant.{site}.x/{topic}", known)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{"site": "f1", "topic": "a/b"}
	if got := tm.Render(func(n string) string { return vals[n] }); got != "plant.f1.x/a/b" {
		t.Fatalf("got %q", got)
	}
	if tm.Literal() || tm.String() != "plant.{site}.x/{topic}" {
		t.Fatal("not literal, and written as given")
	}
	vals["site"] = ""
	if _, err := tm.RenderStrict(func(n string) string { return vals[n] }); err == nil || !strings.Contains(err.Error(), "{site} is empty") {
		t.Fatalf("an empty placeholder: %v", err)
	}
	for _, bad := range []string{"", "a{", "a}", "{nope}", "{site", "{{site}}"} {
		if _, err := ParseTemplate(bad, known); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestTopic(t *testing.T) {
	for in, want := range map[string]string{"plant.f 1/x": "plant.f_1_x", "a.b-c_d": "a.b-c_d", "$SYS/x": "", "": "", "..": "",
		"_schemas": "", "_mesh.interest": "", "__consumer_offsets": "", "__transaction_state": "", "_mesh.dlq.x": "",
		strings.Repeat("a", MaxTopicLen): strings.Repeat("a", MaxTopicLen), strings.Repeat("a", MaxTopicLen+1): ""} {
		got, err := Topic(in)
		switch {
		case want == "" && !errors.Is(err, ErrBadTopic):
			t.Errorf("Topic(%q) = %q, %v; want ErrBadTopic", in, got, err)
		case want != "" && (err != nil || got != want):
			t.Errorf("Topic(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if !LegalTopic("shop.order.created") || LegalTopic("a b") || LegalTopic("") || LegalTopic(strings.Repeat("a", 250)) {
		t.Fatal("LegalTopic")
	}
}
