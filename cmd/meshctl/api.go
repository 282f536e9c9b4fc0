package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// apiClient calls the control plane's API.
type apiClient struct {
	base  string // without a trailing /
	from  string // where the URL came from, for errors
	http  *http.Client
	creds credentials
}

func newAPIClient(raw, from string) (*apiClient, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: want the control plane's URL, http://host:port, got %q", from, raw)
	}
	return &apiClient{base: strings.TrimRight(raw, "/"), from: from, http: &http.Client{}}, nil
}

// apiError is an error the API answered with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// do sends a request with body (JSON, when not nil) and decodes the JSON
// answer into out (when not nil). An error status is an *apiError with the
// API's message.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.creds.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the control plane at %s (from %s) does not answer: %w", c.base, c.from, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the control plane's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s", method, c.base+path, resp.Status)
		}
		return &apiError{status: resp.StatusCode, msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what meshctl expects (%v); is %s a Meshwork control plane?", method, path, err, c.base)
	}
	return nil
}

// get GETs path into out.
func (c *apiClient) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}
