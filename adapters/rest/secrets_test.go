package rest

import "testing"

// Webhook secrets come from environment variables too (the users'
// credentials are the common auth section's, see internal/authn).
func TestSecretsFromEnvironment(t *testing.T) {
	t.Setenv("HOOK_SECRET", "whsec_abc")
	s, err := fromConfig(SubscriptionConfig{ID: "s", Topic: "t", URL: "https://h/x", SecretEnv: "HOOK_SECRET"}, 0)
	if err != nil || s.Secret != "whsec_abc" {
		t.Fatalf("webhook secret from the environment: %q %v", s.Secret, err)
	}
}
