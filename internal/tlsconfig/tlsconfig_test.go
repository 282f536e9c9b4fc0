package tlsconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    Files
		want string
	}{
		{Files{CAFile: filepath.Join(dir, "missing.pem")}, "kafka.tls.ca_file: open"},
		{Files{CAFile: empty}, "kafka.tls.ca_file " + empty + ": no PEM certificates found"},
		{Files{CertFile: "c.pem"}, "kafka.tls: cert_file and key_file go together"},
		{Files{CertFile: empty, KeyFile: empty}, "kafka.tls.cert_file/key_file:"},
	} {
		if _, err := tc.f.Client("kafka.tls"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.f, err, tc.want)
		}
	}
	tc, err := Files{ServerName: "broker"}.Client("mqtt.tls")
	if err != nil || tc.ServerName != "broker" || tc.MinVersion == 0 {
		t.Fatalf("got %+v, %v", tc, err)
	}
}
