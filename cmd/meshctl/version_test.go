package main

import (
	"strings"
	"testing"
)

// meshctl --version prints its name and build, as the services' -version
// does (the container image check runs it).
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		code, out, errOut := meshctl(t, arg)
		if code != 0 || !strings.HasPrefix(out, "meshctl ") || errOut != "" {
			t.Errorf("meshctl %s: exit %d, stdout %q, stderr %q; want 0 and 'meshctl VERSION'", arg, code, out, errOut)
		}
	}
}
