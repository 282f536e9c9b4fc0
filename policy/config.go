package policy

import (
	"strings"
	"unicode"

	"github.com/meshwork/meshwork/internal/config"
)

// Config is the policy block of every service's configuration.
type Config struct {
	// File is the mesh's policy (policy.yaml), read at start (a missing or
	// invalid file stops the service) and again whenever it changes. When
	// empty, every request that authentication let through is allowed.
	File string `yaml:"file,omitempty"`
}

// Enabled reports whether a policy file is set.
func (c Config) Enabled() bool { return c.File != "" }

// Validate checks the block's shape; the file itself is read at start.
func (c Config) Validate() error {
	if c.File != "" && (strings.TrimSpace(c.File) != c.File || strings.IndexFunc(c.File, unicode.IsControl) >= 0) {
		return config.Errorf("file", "%q: a path with white space at an end or a control character is surely a mistake", c.File)
	}
	return nil
}
