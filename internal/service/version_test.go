package service

import (
	"runtime/debug"
	"testing"
)

// A version stamped at link time wins over the build information, which a
// release build made with -buildvcs=false does not have.
func TestVersionOf(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		name, version, commit string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"stamped", "v0.3.0", "fedcba9876543210", vcs, "v0.3.0 (fedcba987654)"},
		{"stamped without commit", "v0.3.0", "", nil, "v0.3.0"},
		{"from vcs", "", "", vcs, "0123456789ab+dirty"},
		{"module version", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, "v0.2.0"},
		{"nothing known", "", "", &debug.BuildInfo{}, "(devel)"},
		{"no build info", "", "", nil, "(unknown)"},
	} {
		if got := versionOf(c.version, c.commit, c.bi); got != c.want {
			t.Errorf("%s: versionOf = %q, want %q", c.name, got, c.want)
		}
	}
}
