package atlas

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// maxMessageRunes caps the message kept from an error body, so that a proxy's
// error page cannot flood logs.
const maxMessageRunes = 500

// redactedToken replaces the token wherever a server echoes it back.
const redactedToken = "[REDACTED]"

// newAPIError builds the error for a non-2xx response. body is already
// limited in size by the caller.
func newAPIError(status int, header http.Header, body []byte, token string, now time.Time) *APIError {
	apiErr := &APIError{Status: status}

	// Reset headers describe a rate-limit window, which matters only when
	// the request was rejected for the rate. Any status may carry
	// Retry-After (503 often does).
	if status == http.StatusTooManyRequests {
		apiErr.RetryAfter, apiErr.HasRetryAfter = RetryAfterFromHeader(header, now)
	} else {
		apiErr.RetryAfter, apiErr.HasRetryAfter = ParseRetryAfter(header.Get("Retry-After"), now)
	}

	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		apiErr.Message = messageFromJSON(doc)
		if id, ok := doc["requestId"].(string); ok {
			apiErr.RequestID = id
		}
	} else {
		apiErr.Message = messageFromText(body)
	}
	for _, name := range []string{"X-Request-Id", "Request-Id", "X-Correlation-Id"} {
		if id := header.Get(name); id != "" {
			apiErr.RequestID = id
			break
		}
	}

	apiErr.Message = sanitize(apiErr.Message, token)
	apiErr.RequestID = sanitize(apiErr.RequestID, token)
	return apiErr
}

// messageFromJSON collects the error text from the shapes APIs commonly use:
// {"message": "..."}, {"error": "..."}, {"error": {"message": "..."}},
// {"errors": ["...", {"field": "x", "message": "..."}]},
// {"errors": {"field": ["..."]}}, and RFC 9457 problem details
// ("title", "detail"). Atlas documents only that 400 and 422 carry a JSON
// message, so all of them are accepted.
func messageFromJSON(doc map[string]any) string {
	var parts []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		for _, p := range parts {
			if p == s {
				return
			}
		}
		parts = append(parts, s)
	}

	add(stringValue(doc["message"]))
	switch v := doc["error"].(type) {
	case string:
		add(v)
	case map[string]any:
		add(objectMessage(v))
	}
	add(stringValue(doc["error_description"]))
	add(stringValue(doc["detail"]))
	if len(parts) == 0 {
		add(stringValue(doc["title"]))
	}

	switch v := doc["errors"].(type) {
	case []any:
		for _, item := range v {
			switch item := item.(type) {
			case string:
				add(item)
			case map[string]any:
				add(objectMessage(item))
			}
		}
	case map[string]any:
		for _, field := range slices.Sorted(maps.Keys(v)) {
			for _, text := range stringList(v[field]) {
				add(field + ": " + text)
			}
		}
	}
	return strings.Join(parts, "; ")
}

// objectMessage formats one error object such as
// {"field": "customFields.seats", "message": "must be an integer"}.
func objectMessage(obj map[string]any) string {
	text := ""
	for _, key := range []string{"message", "detail", "description", "title", "code"} {
		if s := stringValue(obj[key]); s != "" {
			text = s
			break
		}
	}
	if text == "" {
		return ""
	}
	for _, key := range []string{"field", "path", "key", "pointer"} {
		if field := stringValue(obj[key]); field != "" {
			return field + ": " + text
		}
	}
	return text
}

// messageFromText keeps the first line of a plain-text body. HTML bodies
// (proxy and load-balancer error pages) are dropped because their first line
// carries no message.
func messageFromText(body []byte) string {
	text := strings.TrimSpace(string(body))
	if text == "" || strings.HasPrefix(text, "<") {
		return ""
	}
	line, _, _ := strings.Cut(text, "\n")
	return line
}

// sanitize masks the token, replaces control characters and caps the length.
func sanitize(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, redactedToken)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if runes := []rune(s); len(runes) > maxMessageRunes {
		s = string(runes[:maxMessageRunes]) + "…"
	}
	return s
}

func stringValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64, bool:
		return fmt.Sprint(v)
	default:
		return ""
	}
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, item := range v {
			if s := stringValue(item); s != "" {
				out = append(out, s)
			}
		}
		return out
	default:
		return nil
	}
}
