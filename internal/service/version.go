package service

import (
	"runtime/debug"
)

// Release builds stamp these at link time, where the build has no VCS
// information to read (a container build from a source archive, -trimpath
// with -buildvcs=false):
//
//	go build -ldflags "-X github.com/meshwork/meshwork/internal/service.version=v0.3.0 \
//	  -X github.com/meshwork/meshwork/internal/service.commit=0123456789ab" ./cmd/...
//
// They are written only by the linker, never at run time.
var (
	version string
	commit  string
)

// Version says which build of Meshwork this is: the version and commit
// stamped at link time, else the module version or the commit it was built
// from (with +dirty for uncommitted changes), from the build information.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(version, commit, bi)
}

// versionOf is Version for given stamps and build information (nil when
// the binary has none).
func versionOf(stamped, stampedCommit string, bi *debug.BuildInfo) string {
	if stamped != "" {
		if stampedCommit == "" {
			return stamped
		}
		return stamped + " (" + shortRev(stampedCommit) + ")"
	}
	if bi == nil {
		return "(unknown)"
	}
	v := bi.Main.Version
	rev := stampedCommit
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if rev == "" {
				rev = s.Value
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	rev = shortRev(rev)
	if rev != "" {
		if dirty {
			rev += "+dirty"
		}
		if v == "" || v == "(devel)" {
			return rev
		}
		return v + " (" + rev + ")"
	}
	if v == "" {
		return "(devel)"
	}
	return v
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
