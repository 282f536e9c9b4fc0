package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/meshwork/meshwork/internal/config"
)

// LogConfig configures the logger.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level,omitempty" json:"level,omitempty"`
	// Format is text (for people) or json (for log pipelines).
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
}

// DefaultLogConfig logs info and above as text.
func DefaultLogConfig() LogConfig { return LogConfig{Level: "info", Format: "text"} }

// Validate checks the level and format.
func (c *LogConfig) Validate() error {
	if _, err := parseLevel(c.Level); err != nil {
		return config.Errorf("level", "%v", err)
	}
	switch c.Format {
	case "", "text", "json":
	default:
		return config.Errorf("format", "unknown log format %q; want text or json", c.Format)
	}
	return nil
}

// NewLogger returns a logger writing to w as configured.
func NewLogger(w io.Writer, c LogConfig) (*slog.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("log config: %w", err)
	}
	lvl, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q; want debug, info, warn or error", s)
}
