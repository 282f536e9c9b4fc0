package registry

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// The types the API answers with, each with its quality of source as
// Confluent's resources declare them (@Produces): its own versioned type
// first, then its unversioned one, then plain JSON.
var produced = []struct {
	typ string
	qs  float64
}{
	{contentType, 1},
	{"application/vnd.schemaregistry+json", 0.9},
	{"application/json", 0.5},
}

// negotiate picks the answer's content type from the request's Accept
// header as JAX-RS does (the client's q times the server's qs, the most
// specific range deciding a type's q), and answers 406 when the client
// accepts none of them. Answers then carry the chosen type.
func negotiate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		accept := req.Header.Values("Accept")
		if len(accept) == 0 {
			next.ServeHTTP(w, req)
			return
		}
		ct, ok := chooseType(strings.Join(accept, ","))
		if !ok {
			writeErr(w, apiErr(http.StatusNotAcceptable, http.StatusNotAcceptable, "HTTP 406 Not Acceptable"))
			return
		}
		if ct == contentType {
			next.ServeHTTP(w, req)
			return
		}
		next.ServeHTTP(&typedWriter{ResponseWriter: w, typ: ct}, req)
	})
}

// chooseType returns the produced type the Accept header prefers.
func chooseType(accept string) (string, bool) {
	type rng struct {
		typ, sub string
		q        float64
	}
	var ranges []rng
	for _, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
		typ, sub, _ := strings.Cut(mt, "/")
		ranges = append(ranges, rng{typ, sub, q})
	}
	if len(ranges) == 0 {
		return contentType, true
	}
	best, bestScore := "", 0.0
	for _, p := range produced {
		typ, sub, _ := strings.Cut(p.typ, "/")
		q, specificity := -1.0, -1
		for _, r := range ranges {
			s := -1
			switch {
			case r.typ == typ && r.sub == sub:
				s = 2
			case r.typ == typ && r.sub == "*":
				s = 1
			case r.typ == "*" && r.sub == "*":
				s = 0
			}
			if s > specificity {
				q, specificity = r.q, s
			}
		}
		if score := q * p.qs; q > 0 && score > bestScore {
			best, bestScore = p.typ, score
		}
	}
	return best, best != ""
}

// typedWriter answers with the negotiated content type where the handlers
// write the default one.
type typedWriter struct {
	http.ResponseWriter
	typ string
}

func (t *typedWriter) fix() {
	h := t.ResponseWriter.Header()
	if h.Get("Content-Type") == contentType {
		h.Set("Content-Type", t.typ)
	}
}

func (t *typedWriter) WriteHeader(status int) {
	t.fix()
	t.ResponseWriter.WriteHeader(status)
}

func (t *typedWriter) Write(b []byte) (int, error) {
	t.fix()
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (t *typedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// routed answers paths and methods the API does not have as Confluent
// does, in JSON ({"error_code":404,"message":"HTTP 404 Not Found"}, and
// 405 likewise), and accepts a trailing slash on every path, as its
// JAX-RS routing does; the rest goes to next.
func routed(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if p := req.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := *req
			u := *req.URL
			u.Path = strings.TrimSuffix(p, "/")
			u.RawPath = strings.TrimSuffix(u.RawPath, "/")
			r2.URL = &u
			req = &r2
		}
		if _, pattern := mux.Handler(req); pattern != "" {
			next.ServeHTTP(w, req)
			return
		}
		probe := &statusProbe{header: http.Header{}}
		mux.ServeHTTP(probe, req)
		status := probe.status
		switch status {
		case http.StatusMethodNotAllowed:
			if allow := probe.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
		case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusTemporaryRedirect:
			// the mux cleans paths (//subjects): let it redirect
			for k, vs := range probe.header {
				w.Header()[k] = vs
			}
			w.WriteHeader(status)
			return
		default:
			status = http.StatusNotFound
		}
		writeErr(w, apiErr(status, status, "HTTP %d %s", status, http.StatusText(status)))
	})
}

// statusProbe records what the mux answers a request no route takes.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
