package service

import (
	"runtime/debug"
)

// Version says which build of Meshwork this is: the module version, or
// the commit it was built from (with +dirty for uncommitted changes).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
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
