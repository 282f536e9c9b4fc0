package main

import "net/http"

// credsTransport sends meshctl's credentials with every request that
// carries none, to the registry and the control plane's trace API alike.
type credsTransport struct {
	creds credentials
	base  http.RoundTripper
}

func (t credsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" && (t.creds.user != "" || t.creds.token != "") {
		req = req.Clone(req.Context())
		t.creds.authorize(req)
	}
	return t.base.RoundTrip(req)
}

// credentialedClient is the --cacert/--cert client with meshctl's
// credentials (in a secure dev mesh's directory, its admin's).
func (a *app) credentialedClient() (*http.Client, error) {
	hc, err := a.tls.httpClient()
	if err != nil {
		return nil, err
	}
	sec, _ := readDevSecurity(defaultEndpoints) // none outside a dev mesh's directory
	creds, err := a.credentials(sec)
	if err != nil {
		return nil, err
	}
	base := hc.Transport
	if base == nil {
		if base, err = sec.transport(); err != nil {
			return nil, err
		}
		if base == nil {
			base = http.DefaultTransport
		}
	}
	return &http.Client{Timeout: hc.Timeout, Transport: credsTransport{creds, base}}, nil
}
