package atlas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// UpsertResult describes an acknowledged upsert.
type UpsertResult struct {
	// ID is Atlas' own id of the account ("id" in the response), or "" when
	// the response carried none.
	ID string
	// Created is true when the upsert created the account and false when it
	// updated one. It is nil when the response does not tell: a "created"
	// boolean is used first, then status 201 means created. A plain 200
	// without the boolean tells nothing.
	Created *bool
	// Status is the HTTP status of the response.
	Status int
}

// Upsert sends body to POST /v1/accounts/upsert. body must be the JSON
// account object (externalId, name, customFields, other top-level keys);
// it is sent unchanged, so the caller's canonical encoding is what Atlas
// receives. Upserts are idempotent by externalId, so resending after a
// transient error is safe.
func (c *Client) Upsert(ctx context.Context, body []byte) (UpsertResult, error) {
	if len(body) == 0 {
		return UpsertResult{}, errors.New("upsert account: empty request body")
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/accounts/upsert", nil, body)
	if err != nil {
		return UpsertResult{}, fmt.Errorf("upsert account: %w", err)
	}

	result := UpsertResult{Status: resp.status}
	if resp.status == http.StatusNoContent {
		return result, nil
	}
	doc, err := decodeObject(resp.body)
	if err != nil {
		return result, fmt.Errorf("upsert account: HTTP %d: %w", resp.status, err)
	}
	account := unwrapAccount(doc)
	result.ID = idString(account["id"])
	switch {
	case boolField(doc, "created") != nil:
		result.Created = boolField(doc, "created")
	case boolField(account, "created") != nil:
		result.Created = boolField(account, "created")
	case resp.status == http.StatusCreated:
		result.Created = new(true)
	}
	return result, nil
}

// AccountPage is one page of ListAccounts.
type AccountPage struct {
	// Accounts are the decoded account objects (numbers are float64).
	Accounts []map[string]any
	// NextCursor is the cursor for the next page, "" on the last page.
	NextCursor string
}

// ListAccounts reads one page of GET /v1/accounts. An empty cursor starts at
// the beginning; limit <= 0 leaves the page size to Atlas.
//
// NOTE: Atlas' SDKs show "cursor" and "limit" parameters and items under
// "data"; the name of the next cursor is inferred. "nextCursor",
// "next_cursor" and the same keys inside "meta" or "pagination" are read,
// and "hasMore": false ends paging even when a cursor is present.
func (c *Client) ListAccounts(ctx context.Context, cursor string, limit int) (AccountPage, error) {
	query := url.Values{}
	if cursor != "" {
		query.Set("cursor", cursor)
	}
	if limit > 0 {
		query.Set("limit", strconv.Itoa(limit))
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/accounts", query, nil)
	if err != nil {
		return AccountPage{}, fmt.Errorf("list accounts: %w", err)
	}
	doc, err := decodeObject(resp.body)
	if err != nil {
		return AccountPage{}, fmt.Errorf("list accounts: %w", err)
	}

	items, ok := doc["data"].([]any)
	if !ok {
		return AccountPage{}, fmt.Errorf("list accounts: %w: no \"data\" array", ErrInvalidResponse)
	}
	page := AccountPage{Accounts: make([]map[string]any, 0, len(items))}
	for i, item := range items {
		account, ok := item.(map[string]any)
		if !ok {
			return AccountPage{}, fmt.Errorf("list accounts: %w: data[%d] is not an object", ErrInvalidResponse, i)
		}
		page.Accounts = append(page.Accounts, account)
	}

	page.NextCursor = nextCursor(doc)
	if page.NextCursor != "" && page.NextCursor == cursor {
		// Following it would loop forever.
		return AccountPage{}, fmt.Errorf("list accounts: %w: next cursor equals the requested cursor %q", ErrInvalidResponse, cursor)
	}
	return page, nil
}

// GetAccount reads GET /v1/accounts/{id}, where id is Atlas' id (not the
// externalId). A missing account is an APIError with status 404; see
// IsNotFound.
func (c *Client) GetAccount(ctx context.Context, id string) (map[string]any, error) {
	if id == "" || id == "." || id == ".." {
		return nil, fmt.Errorf("get account: invalid id %q", id)
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("get account %s: %w", id, err)
	}
	doc, err := decodeObject(resp.body)
	if err != nil {
		return nil, fmt.Errorf("get account %s: %w", id, err)
	}
	return unwrapAccount(doc), nil
}

// decodeObject parses a 2xx body that must be one JSON object. A truncated
// or non-JSON body wraps ErrInvalidResponse, which Classify treats as
// transient.
func decodeObject(body []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: body is null, expected a JSON object", ErrInvalidResponse)
	}
	return doc, nil
}

// unwrapAccount returns the account object of a response.
//
// NOTE: the API reference describes the response as "the account object"; an
// envelope {"data": {...}} or {"account": {...}} is accepted too, in case
// Atlas wraps it as its list responses do.
func unwrapAccount(doc map[string]any) map[string]any {
	if _, ok := doc["id"]; ok {
		return doc
	}
	for _, key := range []string{"data", "account"} {
		if inner, ok := doc[key].(map[string]any); ok {
			return inner
		}
	}
	return doc
}

func nextCursor(doc map[string]any) string {
	if hasMore, ok := doc["hasMore"].(bool); ok && !hasMore {
		return ""
	}
	containers := []map[string]any{doc}
	for _, key := range []string{"meta", "pagination"} {
		if inner, ok := doc[key].(map[string]any); ok {
			containers = append(containers, inner)
		}
	}
	for _, container := range containers {
		if hasMore, ok := container["hasMore"].(bool); ok && !hasMore {
			return ""
		}
		for _, key := range []string{"nextCursor", "next_cursor"} {
			if cursor := idString(container[key]); cursor != "" {
				return cursor
			}
		}
	}
	return ""
}

// idString formats an id or cursor that may arrive as a string or a number.
func idString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return ""
	}
}

func boolField(doc map[string]any, key string) *bool {
	if v, ok := doc[key].(bool); ok {
		return &v
	}
	return nil
}
