package controlplane

import _ "embed"

// ConfigReference documents every field of the configuration file, its
// default and meaning; it is generated from Config (see CONFIG.md).
//
//go:embed CONFIG.md
var ConfigReference string
