package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"
)

// Tokens checks bearer tokens against the token file, reloaded when it
// changes.
type Tokens struct {
	r *reloader[map[[sha256.Size]byte]Identity]
}

// OpenTokens loads the token file at path (format in the package doc).
func OpenTokens(path string, log *slog.Logger) (*Tokens, error) {
	r, err := newReloader([]string{path}, func(raw [][]byte) (map[[sha256.Size]byte]Identity, error) {
		return ParseTokens(raw[0])
	}, log)
	if err != nil {
		return nil, fmt.Errorf("auth: token file: %w", err)
	}
	return &Tokens{r: r}, nil
}

// ParseTokens reads a token file. Errors name the line, not the token.
func ParseTokens(b []byte) (map[[sha256.Size]byte]Identity, error) {
	out := map[[sha256.Size]byte]Identity{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"<kind> <name> <token>\", found %d fields", n, len(f))
		}
		kind := Kind(f[0])
		switch kind {
		case Reader, Writer, Admin:
		case Node:
			return nil, fmt.Errorf("line %d: nodes authenticate by certificate, not by token", n)
		default:
			return nil, fmt.Errorf("line %d: kind %q is not reader, writer or admin", n, f[0])
		}
		if len(f[2]) < 16 {
			return nil, fmt.Errorf("line %d: the token of %s is shorter than 16 characters", n, f[1])
		}
		h := sha256.Sum256([]byte(f[2]))
		if prev, dup := out[h]; dup {
			return nil, fmt.Errorf("line %d: the token of %s is also %s's", n, f[1], prev.Name)
		}
		out[h] = Identity{Kind: kind, Name: f[1], Via: "token"}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Lookup is the identity token belongs to.
func (t *Tokens) Lookup(token string) (Identity, bool) {
	id, ok := t.r.get()[sha256.Sum256([]byte(token))]
	return id, ok
}
