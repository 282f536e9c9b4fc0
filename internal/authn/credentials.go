package authn

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/meshwork/meshwork/internal/config"
)

// credentials are the users' and tokens' secrets as they stand, rebuilt
// when a secret file changes. Plain secrets are kept only as keyed digests.
type credentials struct {
	users  map[string]userCred
	tokens map[[32]byte]string // sha256(token) -> principal
	files  map[string]fileStamp
}

// userCred verifies one user's password: by bcrypt, or by a keyed digest
// of a plain secret read from a file, the environment or the configuration.
type userCred struct {
	bcrypt []byte
	digest [32]byte
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

// loadCredentials reads every secret the configuration names.
func loadCredentials(c Config, key []byte) (*credentials, error) {
	cr := &credentials{users: map[string]userCred{}, tokens: map[[32]byte]string{}, files: map[string]fileStamp{}}
	for i, u := range c.Users {
		field := fmt.Sprintf("auth.users[%d]", i)
		if u.PasswordHash != "" {
			cr.users[u.Name] = userCred{bcrypt: []byte(u.PasswordHash)}
			continue
		}
		pw, err := cr.secret(u.Password, u.PasswordFile, u.PasswordEnv, field+".password")
		if err != nil {
			return nil, err
		}
		cr.users[u.Name] = userCred{digest: keyed(key, pw)}
	}
	for i, t := range c.Tokens {
		field := fmt.Sprintf("auth.tokens[%d]", i)
		var sum [32]byte
		if t.TokenSHA256 != "" {
			b, err := hex.DecodeString(t.TokenSHA256)
			if err != nil || len(b) != len(sum) {
				return nil, fmt.Errorf("%s.token_sha256: want 64 hex digits", field)
			}
			copy(sum[:], b)
		} else {
			tok, err := cr.secret(t.Token, t.TokenFile, t.TokenEnv, field+".token")
			if err != nil {
				return nil, err
			}
			sum = sha256.Sum256([]byte(tok))
		}
		cr.tokens[sum] = t.Name
	}
	return cr, nil
}

// secret returns the secret given inline, in a file (remembered, to be
// looked at again) or in an environment variable; an empty one is an
// error, since it would let an empty password in.
func (cr *credentials) secret(inline, file, env, field string) (string, error) {
	if file != "" {
		cr.files[file] = stamp(file)
	}
	v, err := config.SecretRef{Field: field, Value: inline, File: file, Env: env}.Resolve()
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%s: the secret is empty", field)
	}
	return v, nil
}

// changed reports whether a secret file differs from when it was read.
func (cr *credentials) changed() bool {
	for f, st := range cr.files {
		if stamp(f) != st {
			return true
		}
	}
	return false
}

// keyed returns an HMAC-SHA256 of parts under key, with each part's length
// framed so that ("ab", "c") and ("a", "bc") differ.
func keyed(key []byte, parts ...string) [32]byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		fmt.Fprintf(m, "%d:", len(p))
		m.Write([]byte(p))
	}
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}
