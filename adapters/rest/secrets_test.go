package rest

import (
	"strings"
	"testing"
)

// Credentials and webhook secrets come from environment variables too;
// each secret is given one way only.
func TestSecretsFromEnvironment(t *testing.T) {
	t.Setenv("REST_OPS_PASSWORD", "env-pw")
	t.Setenv("REST_SHOP_TOKEN", "env-t0ken")
	a, err := newAuthenticator([]User{
		{Name: "ops", PasswordEnv: "REST_OPS_PASSWORD"},
		{Name: "shop", TokenEnv: "REST_SHOP_TOKEN"},
	}, c0().TLS)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.passwords) != 1 || len(a.tokens) != 1 {
		t.Fatalf("credentials not read: %d passwords, %d tokens", len(a.passwords), len(a.tokens))
	}
	if _, err := newAuthenticator([]User{{Name: "ops", PasswordEnv: "REST_UNSET"}}, c0().TLS); err == nil || !strings.Contains(err.Error(), "auth.users[0].password_env: environment variable REST_UNSET is not set") {
		t.Fatalf("an unset variable: %v", err)
	}
	t.Setenv("HOOK_SECRET", "whsec_abc")
	s, err := fromConfig(SubscriptionConfig{ID: "s", Topic: "t", URL: "https://h/x", SecretEnv: "HOOK_SECRET"}, 0)
	if err != nil || s.Secret != "whsec_abc" {
		t.Fatalf("webhook secret from the environment: %q %v", s.Secret, err)
	}

	c := c0()
	c.Auth.Users = []User{{Name: "ops", Password: "x", PasswordEnv: "REST_OPS_PASSWORD"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "auth.users[0].password: set one of") {
		t.Fatalf("two forms of one secret: %v", err)
	}
}

func c0() Config {
	c := DefaultConfig()
	c.Site, c.Kafka.Brokers = "east", []string{"127.0.0.1:9092"}
	return c
}
