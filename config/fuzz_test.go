package config

import (
	"errors"
	"strings"
	"testing"
)

// fuzzEnvironment sets every variable, so that ${VAR} expansion runs on
// any name the fuzzer writes, and gives the token a recognisable value.
func fuzzEnvironment(name string) (string, bool) {
	if name == "TOKEN" {
		return "fuzz-token-value", true
	}
	return "x", true
}

// FuzzParse feeds arbitrary bytes through expansion, strict YAML decoding,
// defaults and validation. Parse must not panic, must accept only configs
// that validate again unchanged, and every problem it reports must name
// its place: a YAML line, a key, or the whole file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(strings.Replace(minimal, "  token: ${TOKEN}", "  token: ${TOKEN}\n  burst: 0\n  workers: -1", 1)))
	f.Add([]byte("atlas: {token: t}\njobs: []\n"))
	f.Add([]byte("a: &a [x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c, *c]\n"))
	f.Add([]byte("atlas:\n  token: ${UNTERMINATED\n"))
	f.Add([]byte("---\natlas: {}\n---\natlas: {}\n"))
	f.Add([]byte("atlas:\n\ttoken: tab\n"))
	f.Add([]byte("jobs:\n  - name: x\n    schedule: 'CRON_TZ=Mars/Base 0 * * * *'\n"))

	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw, fuzzEnvironment)
		if err != nil {
			checkPositioned(t, err)
			return
		}
		if cfg == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}

// checkPositioned fails for an error leaf that names neither a YAML line,
// a key, nor a problem of the whole file.
func checkPositioned(t *testing.T, err error) {
	t.Helper()
	for _, leaf := range errorLeaves(err) {
		var fieldErr *FieldError
		if errors.As(leaf, &fieldErr) {
			if fieldErr.Key == "" {
				t.Errorf("FieldError without a key: %v", leaf)
			}
			continue
		}
		text := leaf.Error()
		switch {
		case text == "":
			t.Errorf("empty error message")
		case strings.Contains(text, "line "):
		case strings.Contains(text, "the file is empty"), strings.Contains(text, "more than one YAML document"):
		case strings.HasPrefix(text, "invalid YAML: yaml: "):
			// The YAML scanner reports some problems (control
			// characters, invalid UTF-8, excessive aliasing) for the
			// whole document without a line.
		default:
			t.Errorf("error without a position: %q", text)
		}
	}
}

// errorLeaves returns the errors that errors.Join combined, recursively.
func errorLeaves(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var leaves []error
		for _, e := range joined.Unwrap() {
			leaves = append(leaves, errorLeaves(e)...)
		}
		return leaves
	}
	return []error{err}
}
