package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// meshctl runs the command line args and returns its exit status and
// output.
func meshctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInterestAddListRemove(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kafka := c.ListenAddrs()[0]

	code, out, errOut := meshctl(t, "interest", "list", "-kafka", kafka)
	if code != 0 || !strings.Contains(out, "No interest leases") {
		t.Fatalf("list of nothing: %d %q %q", code, out, errOut)
	}

	for _, args := range [][]string{
		{"interest", "add", "shop.order.created", "-kafka", kafka, "-site", "west"},
		{"interest", "add", "-kafka", kafka, "-pattern", `shop\..*`, "-name", "nightly", "-ttl", "1h", "-resume", "earliest"},
		{"interest", "add", "billing.invoice", "-kafka", kafka, "-resume", "time:2026-01-02T15:04:05Z", "-ttl", "1s"},
	} {
		if code, out, errOut := meshctl(t, args...); code != 0 || !strings.HasPrefix(out, "Added ") {
			t.Fatalf("%q: %d %q %q", args, code, out, errOut)
		}
	}
	// Adding again keeps when the declaration began.
	_, before, _ := meshctl(t, "interest", "list", "-kafka", kafka, "-site", "west")
	if code, _, errOut := meshctl(t, "interest", "add", "shop.order.created", "-kafka", kafka, "-site", "west", "-resume", "latest"); code != 0 {
		t.Fatal(errOut)
	}
	_, after, _ := meshctl(t, "interest", "list", "-kafka", kafka, "-site", "west")
	if field(t, before, 1, 4) != field(t, after, 1, 4) || field(t, after, 1, 6) != "latest" {
		t.Fatalf("re-adding changed since or not the policy:\n%s\n%s", before, after)
	}

	// The 1s declaration lapses; list marks it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, out, _ = meshctl(t, "interest", "list", "-kafka", kafka)
		if strings.Contains(out, "(expired)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 1s declaration never shows expired:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SITE") {
		t.Fatalf("list:\n%s", out)
	}
	for _, want := range [][]string{
		{"east", "billing.invoice", "DECLARED", "meshctl", "*", "* (expired)", "time:2026-01-02T15:04:05Z"},
		{"east", `pattern:shop\..*`, "DECLARED", "nightly", "*", "*", "earliest"},
		{"west", "shop.order.created", "DECLARED", "meshctl", "*", "never", "latest"},
	} {
		if !hasRow(lines[1:], want) {
			t.Fatalf("list lacks %q:\n%s", want, out)
		}
	}

	// Remove: a pattern needs -pattern, and what is not there is an error.
	code, _, errOut = meshctl(t, "interest", "remove", `shop\..*`, "-name", "nightly", "-kafka", kafka)
	if code != 1 || !strings.Contains(errOut, "add -pattern") {
		t.Fatalf("remove without -pattern: %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{"interest", "remove", `shop\..*`, "-pattern", "-name", "nightly", "-kafka", kafka},
		{"interest", "remove", "shop.order.created", "-site", "west", "-kafka", kafka},
	} {
		if code, out, errOut := meshctl(t, args...); code != 0 || !strings.HasPrefix(out, "Removed ") {
			t.Fatalf("%q: %d %q %q", args, code, out, errOut)
		}
	}
	_, out, _ = meshctl(t, "interest", "list", "-kafka", kafka)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "billing.invoice") {
		t.Fatalf("after removing:\n%s", out)
	}
	code, _, errOut = meshctl(t, "interest", "remove", "shop.order.created", "-site", "west", "-kafka", kafka)
	if code != 1 || !strings.Contains(errOut, "no declared interest") {
		t.Fatalf("removing twice: %d %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{nil, 2, "Usage: meshctl <command>"},
		{[]string{"help"}, 0, "interest add"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"interest"}, 2, "meshctl interest: no command given"},
		{[]string{"interest", "add", "-h"}, 0, "Usage: meshctl interest add TOPIC"},
		{[]string{"interest", "add"}, 2, "want one TOPIC"},
		{[]string{"interest", "add", "a", "b"}, 2, "want one TOPIC, got 2"},
		{[]string{"interest", "add", "t", "-resume", "soon"}, 2, "want checkpoint, latest, earliest or time:"},
		{[]string{"interest", "add", "t", "-ttl", "10ms"}, 2, "at least 1s"},
		{[]string{"interest", "add", "shop/x"}, 2, "Kafka topic names are"},
		{[]string{"interest", "add", "(", "-pattern"}, 2, "not an RE2 regular expression"},
		{[]string{"interest", "add", "t", "-site", "East"}, 2, `-site "East"`},
		{[]string{"interest", "add", "t", "-kafka", "nohost"}, 2, "want host:port"},
		{[]string{"interest", "remove", "t", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"interest", "list", "extra"}, 2, "takes no arguments"},
		{[]string{"interest", "list", "-kafka", "127.0.0.1:1", "-timeout", "200ms"}, 1, "is Kafka reachable?"},
	} {
		code, out, errOut := meshctl(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("meshctl %q: exit %d, want %d with %q in\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// field returns field f of line l (0 = the header) of a listing.
func field(t *testing.T, listing string, l, f int) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(listing), "\n")
	if l >= len(lines) {
		t.Fatalf("no line %d in\n%s", l, listing)
	}
	fs := strings.Fields(lines[l])
	if f >= len(fs) {
		t.Fatalf("no field %d in %q", f, lines[l])
	}
	return fs[f]
}

// hasRow reports whether a line's columns match want ("*" matches anything,
// "* (expired)" anything followed by the marker).
func hasRow(lines []string, want []string) bool {
	for _, line := range lines {
		cols := strings.Split(line, "  ")
		var got []string
		for _, c := range cols {
			if c = strings.TrimSpace(c); c != "" {
				got = append(got, c)
			}
		}
		if len(got) != len(want) {
			continue
		}
		ok := true
		for i := range want {
			switch {
			case want[i] == "*":
			case strings.HasPrefix(want[i], "* "):
				ok = ok && strings.HasSuffix(got[i], want[i][1:])
			default:
				ok = ok && got[i] == want[i]
			}
		}
		if ok {
			return true
		}
	}
	return false
}
