package mqtt

import (
	"fmt"
	"regexp"
)

// clientIDEnv matches the {env.NAME} references of broker.client_id.
var clientIDEnv = regexp.MustCompile(`\{env\.([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandClientID replaces each {env.NAME} of id with the variable's value
// from lookup (os.LookupEnv). A variable that is unset or empty is an
// error: replicas would share one session and take it from each other.
func expandClientID(id string, lookup func(string) (string, bool)) (string, error) {
	var err error
	out := clientIDEnv.ReplaceAllStringFunc(id, func(ref string) string {
		name := clientIDEnv.FindStringSubmatch(ref)[1]
		v, ok := lookup(name)
		if (!ok || v == "") && err == nil {
			err = fmt.Errorf("broker.client_id %q: the environment variable %s is unset or empty; set it to something unique per replica (in Kubernetes: env %s from the downward API's metadata.name)", id, name, name)
		}
		return v
	})
	return out, err
}
