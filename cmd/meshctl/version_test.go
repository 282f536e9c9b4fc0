package main

import (
	"strings"
	"testing"
)

// meshctl --version prints its name and build, as the services' -version
// does (the container image check runs it).
func TestVersion(t *testing.T) {
	code, out, errOut := meshctl(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "meshctl ") || errOut != "" {
		t.Errorf("meshctl --version: exit %d, stdout %q, stderr %q; want 0 and 'meshctl VERSION'", code, out, errOut)
	}
}
