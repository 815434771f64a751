package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder's messages name Go types ("field wokers not found in type
// config.Atlas", "cannot unmarshal !!str `four` into int"). These patterns
// let explainDecodeError restate them with the YAML key and the fix.
var (
	unknownFieldPattern = regexp.MustCompile("^line (\\d+): field (\\S+) not found in type config\\.(\\w+)")
	wrongTypePattern    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// sectionTypes maps the Go type names in decoder messages to their types,
// so that the message for an unknown key can list the valid ones.
var sectionTypes = map[string]reflect.Type{
	"Config":  reflect.TypeOf(Config{}),
	"Atlas":   reflect.TypeOf(Atlas{}),
	"State":   reflect.TypeOf(State{}),
	"Daemon":  reflect.TypeOf(Daemon{}),
	"Log":     reflect.TypeOf(Log{}),
	"Job":     reflect.TypeOf(Job{}),
	"Source":  reflect.TypeOf(Source{}),
	"Mapping": reflect.TypeOf(Mapping{}),
	"Field":   reflect.TypeOf(Field{}),
}

// explainDecodeError rewrites the decoder's errors so that each names the
// YAML key path, its line, the bad value and what is expected.
func explainDecodeError(err error, tree *yaml.Node) error {
	var messages []string
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) {
		messages = typeErr.Errors
	} else {
		messages = []string{err.Error()}
	}

	keys := keyLines(tree)
	problems := make([]error, 0, len(messages))
	for _, msg := range messages {
		problems = append(problems, errors.New(explainDecodeMessage(msg, keys)))
	}
	return errors.Join(problems...)
}

func explainDecodeMessage(msg string, keys map[int][]keyAt) string {
	if m := unknownFieldPattern.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		name := m[2]
		path := pathOnLine(keys, line, func(k keyAt) bool { return k.name == name })
		valid := sortedKeys(yamlKeys(sectionTypes[m[3]]))
		hint := ""
		if guess := closest(name, valid); guess != "" {
			hint = fmt.Sprintf("did you mean %s? ", guess)
		}
		return fmt.Sprintf("%s (line %d): unknown key; %svalid keys here: %s", path, line, hint, strings.Join(valid, ", "))
	}
	if m := wrongTypePattern.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		value := m[3]
		path := pathOnLine(keys, line, func(k keyAt) bool { return k.value == value })
		return fmt.Sprintf("%s (line %d): invalid value %q: expected %s", path, line, value, describeGoType(m[4]))
	}
	return msg
}

// keyAt is one mapping key of the document.
type keyAt struct {
	path  string // dotted path, e.g. jobs[0].source.path
	name  string // the key itself
	value string // the scalar value, "" for mappings and lists
}

// keyLines indexes the document's keys by the line they are on.
func keyLines(tree *yaml.Node) map[int][]keyAt {
	keys := make(map[int][]keyAt)
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, child := range n.Content {
				walk(child, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, value := n.Content[i], n.Content[i+1]
				full := key.Value
				if path != "" {
					full = path + "." + key.Value
				}
				entry := keyAt{path: full, name: key.Value}
				if value.Kind == yaml.ScalarNode {
					entry.value = value.Value
				}
				keys[key.Line] = append(keys[key.Line], entry)
				walk(value, full)
			}
		case yaml.SequenceNode:
			for i, child := range n.Content {
				walk(child, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(tree, "")
	return keys
}

// pathOnLine returns the path of the key on line that matches, or of the
// only key on that line, or "the key" when neither identifies one.
func pathOnLine(keys map[int][]keyAt, line int, match func(keyAt) bool) string {
	candidates := keys[line]
	for _, k := range candidates {
		if match(k) {
			return k.path
		}
	}
	if len(candidates) == 1 {
		return candidates[0].path
	}
	return "the key"
}

func describeGoType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a single text value"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping of keys to values"
	default:
		return "a mapping with its own keys (see config.example.yaml)"
	}
}

// closest returns the candidate within edit distance 2 of name, or "".
func closest(name string, candidates []string) string {
	best, bestDistance := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), c); d < bestDistance {
			best, bestDistance = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}
