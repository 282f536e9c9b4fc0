package interest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		l    Lease
		want string
	}{
		{Lease{Site: "east", Kind: KindConsumerGroup, SourceID: "billing", Topic: "shop.order.created"},
			"east/consumer_group/billing/topic:shop.order.created"},
		{Lease{Site: "west", Kind: KindDeclared, SourceID: "ops/nightly", Topic: `shop\..*`, Pattern: true},
			`west/declared/ops%2Fnightly/pattern:shop\..*`},
		{Lease{Site: "east", Kind: KindAdapterEgress, SourceID: "mqtt-adapter 100%\n", Topic: "a/b|c", Pattern: true},
			"east/adapter_egress/mqtt-adapter 100%25%0A/pattern:a%2Fb|c"},
		{Lease{Site: "east", Kind: KindWebhook, SourceID: "hook-1", Topic: "shop.order.created", Pattern: true},
			"east/webhook/hook-1/pattern:shop.order.created"},
	} {
		if got := tc.l.Key(); got != tc.want {
			t.Errorf("Key() = %q, want %q", got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	good := Lease{Topic: "shop.order.created", Site: "east", Kind: KindDeclared, SourceID: "ops", Since: since, Expires: since.Add(time.Minute)}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid lease rejected: %v", err)
	}
	never := good
	never.Expires = time.Time{}
	if err := never.Validate(); err != nil {
		t.Fatalf("never-expiring lease rejected: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Lease)
		want string
	}{
		{"empty topic", func(l *Lease) { l.Topic = "" }, "topic is empty"},
		{"empty pattern", func(l *Lease) { l.Topic, l.Pattern = "", true }, "pattern is empty"},
		{"bad pattern", func(l *Lease) { l.Topic, l.Pattern = "shop.(", true }, "not an RE2 regular expression"},
		{"perl pattern", func(l *Lease) { l.Topic, l.Pattern = `shop(?=x)`, true }, "not an RE2 regular expression"},
		{"topic with slash", func(l *Lease) { l.Topic = "shop/order" }, "Kafka topic names are"},
		{"long topic", func(l *Lease) { l.Topic = strings.Repeat("a", 250) }, "longer than 249"},
		{"bad site", func(l *Lease) { l.Site = "East" }, `site "East"`},
		{"no site", func(l *Lease) { l.Site = "" }, "site name is empty"},
		{"bad kind", func(l *Lease) { l.Kind = 9 }, "unknown source kind 9"},
		{"no source", func(l *Lease) { l.SourceID = "" }, "source id is empty"},
		{"bad utf-8 source", func(l *Lease) { l.SourceID = "\xff" }, "not valid UTF-8"},
		{"no since", func(l *Lease) { l.Since = time.Time{} }, "since is not set"},
		{"expires before since", func(l *Lease) { l.Expires = since.Add(-time.Second) }, "is not after since"},
		{"expires at since", func(l *Lease) { l.Expires = since }, "is not after since"},
		{"bad resume", func(l *Lease) { l.Resume = 7 }, "unknown resume policy 7"},
		{"timestamp without time", func(l *Lease) { l.Resume = ResumeTimestamp }, "resume TIMESTAMP needs resume_at"},
		{"time without timestamp", func(l *Lease) { l.ResumeAt = since }, "only read with TIMESTAMP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := good
			tc.edit(&l)
			err := l.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidLease) {
				t.Fatalf("got %v, want an ErrInvalidLease containing %q", err, tc.want)
			}
		})
	}
	// Every problem is reported at once.
	err := Lease{}.Validate()
	for _, want := range []string{"topic is empty", "site name is empty", "source id is empty", "since is not set"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("zero lease: %v lacks %q", err, want)
		}
	}
}

func TestResume(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want Resume
		at   time.Time
	}{
		{"", ResumeCheckpoint, time.Time{}},
		{"checkpoint", ResumeCheckpoint, time.Time{}},
		{"latest", ResumeLatest, time.Time{}},
		{"earliest", ResumeEarliest, time.Time{}},
		{"time:2026-01-02T16:04:05+01:00", ResumeTimestamp, at},
	} {
		r, got, err := ParseResume(tc.in)
		if err != nil || r != tc.want || !got.Equal(tc.at) {
			t.Errorf("ParseResume(%q) = %v, %v, %v", tc.in, r, got, err)
		}
		if tc.in != "" {
			if back, _, _ := ParseResume(FormatResume(r, got)); back != r {
				t.Errorf("FormatResume(%v) does not parse back", r)
			}
		}
	}
	for _, bad := range []string{"LATEST", "time:yesterday", "now"} {
		if _, _, err := ParseResume(bad); err == nil {
			t.Errorf("ParseResume(%q) accepted", bad)
		}
	}
	if FormatResume(ResumeTimestamp, at) != "time:2026-01-02T15:04:05Z" {
		t.Errorf("FormatResume = %q", FormatResume(ResumeTimestamp, at))
	}
	if k, err := ParseKind("consumer_group"); err != nil || k != KindConsumerGroup {
		t.Errorf("ParseKind: %v, %v", k, err)
	}
	if _, err := ParseKind("PERSON"); err == nil {
		t.Error("ParseKind accepted PERSON")
	}
}
