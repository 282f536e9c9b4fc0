package config

import (
	"fmt"
	"os"
	"strings"
)

// Secret returns a secret that a configuration gives inline (value) or,
// better, in a file kept out of the configuration (file, read now, with its
// trailing newline dropped). field names the file's field in errors, e.g.
// kafka sasl.password_file.
func Secret(value, file, field string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
