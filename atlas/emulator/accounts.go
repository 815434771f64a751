package emulator

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	defaultPageSize = 50
	maxPageSize     = 100
)

// readOnlyKeys are response keys that an upsert may not set.
var readOnlyKeys = []string{"id", "createdAt", "updatedAt", "created"}

// Account is an account as the emulator stores it.
type Account struct {
	// ID is the emulator's UUID v4 for the account, Atlas' "id".
	ID         string `json:"id"`
	ExternalID string `json:"externalId"`
	Name       string `json:"name"`
	// Fields are the other top-level keys that upserts set.
	Fields       map[string]any `json:"fields,omitempty"`
	CustomFields map[string]any `json:"customFields"`
	CreatedAt    time.Time      `json:"createdAt"`
	// UpdatedAt is the time of the last upsert that changed a value.
	UpdatedAt time.Time `json:"updatedAt"`
	// Version is 1 on creation and grows by one with every upsert that
	// changed a value. Stats.Upserts counts all accepted upserts.
	Version int `json:"version"`
}

// Stats counts what the Server did since New or Reset.
type Stats struct {
	// Requests counts every request except /healthz.
	Requests int
	// ByStatus counts complete and truncated responses by status.
	ByStatus map[int]int
	// Upserts counts accepted upserts per externalId, including those
	// whose response was then reset or truncated.
	Upserts map[string]int
	// RateLimited counts 429 responses sent by the rate limit or
	// Faults.RateLimitBurst.
	RateLimited int
	// Unanswered counts requests held without a response by
	// Faults.TimeoutRate.
	Unanswered int
	// Resets counts connections reset by Faults.ResetRate.
	Resets int
	// Truncated counts bodies truncated by Faults.TruncateRate.
	Truncated int
}

type record struct {
	Account
	seq int64
}

// Accounts returns copies of all accounts sorted by ExternalID.
func (s *Server) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, key := range slices.Sorted(maps.Keys(s.accounts)) {
		out = append(out, copyAccount(s.accounts[key].Account))
	}
	return out
}

// Account returns a copy of the account with the given externalId.
func (s *Server) Account(externalID string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.accounts[externalID]
	if !ok {
		return Account{}, false
	}
	return copyAccount(rec.Account), true
}

// Stats returns a copy of the statistics.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	st.Upserts = maps.Clone(s.stats.Upserts)
	return st
}

// upsertRequest is a validated upsert body. A nil map value or a nil Name
// means "keep the stored value".
type upsertRequest struct {
	externalID   string
	name         *string
	customFields map[string]any
	fields       map[string]any
}

// handleUpsert implements POST /v1/accounts/upsert. It responds 200 with the
// account and "created": true or false, and never 201.
//
// NOTE: the create/update signal and the merge rules (null or absent keeps
// the stored value, "" overwrites, each custom field merged on its own key,
// url and address objects replaced whole) follow Atlas' SDK documentation;
// the response shape is inferred.
func (s *Server) handleUpsert(rw *responder) {
	if status, message := checkContentType(rw.r); status != 0 {
		rw.send(status, errorBody(message))
		return
	}
	if err := rw.bodyErr; err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			rw.send(http.StatusRequestEntityTooLarge, errorBody("request body exceeds "+strconv.Itoa(maxBodyBytes)+" bytes"))
			return
		}
		rw.send(http.StatusBadRequest, errorBody("read request body: "+err.Error()))
		return
	}

	doc, err := decodeBody(rw.body)
	if err != nil {
		rw.send(http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	externalID, ok := doc["externalId"].(string)
	if !ok || externalID == "" {
		rw.send(http.StatusUnprocessableEntity, errorBody("externalId is required and must be a non-empty string"))
		return
	}
	rw.externalID = externalID

	s.mu.Lock()
	failStatus := s.faults.FailExternalIDs[externalID]
	s.mu.Unlock()
	if failStatus != 0 {
		rw.send(failStatus, errorBody("upsert of externalId "+strconv.Quote(externalID)+" rejected (injected fault)"))
		return
	}

	req, err := parseUpsert(doc, externalID, s.opts.CustomFields)
	if err != nil {
		rw.send(http.StatusUnprocessableEntity, errorBody(err.Error()))
		return
	}
	account, created := s.apply(req)
	response := accountJSON(account)
	response["created"] = created
	rw.send(http.StatusOK, response)
}

func checkContentType(r *http.Request) (int, string) {
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		return 0, ""
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return http.StatusUnsupportedMediaType, "Content-Type must be application/json, got " + strconv.Quote(contentType)
	}
	return 0, ""
}

// decodeBody parses exactly one JSON object, keeping numbers as json.Number
// so that integers can be distinguished from decimals.
func decodeBody(body []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, errors.New("invalid JSON body: " + err.Error())
	}
	if decoder.More() {
		return nil, errors.New("invalid JSON body: data after the top-level value")
	}
	doc, ok := value.(map[string]any)
	if !ok {
		return nil, errors.New("request body must be a JSON object, got " + jsonType(value))
	}
	return doc, nil
}

func parseUpsert(doc map[string]any, externalID string, defs map[string]FieldDef) (upsertRequest, error) {
	req := upsertRequest{externalID: externalID, fields: map[string]any{}}
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		value := doc[key]
		switch {
		case key == "externalId":
		case key == "name":
			switch name := value.(type) {
			case nil:
			case string:
				req.name = &name
			default:
				return req, invalid("name must be a string or null, got %s", jsonType(value))
			}
		case key == "customFields":
			fields, err := validateCustomFields(defs, value)
			if err != nil {
				return req, err
			}
			req.customFields = fields
		case slices.Contains(readOnlyKeys, key):
			return req, invalid("%s is read-only and cannot be set by an upsert", key)
		default:
			req.fields[key] = normalize(value)
		}
	}
	return req, nil
}

// apply stores the upsert and returns a copy of the account and whether it
// was created.
func (s *Server) apply(req upsertRequest) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	s.stats.Upserts[req.externalID]++

	rec, exists := s.accounts[req.externalID]
	if !exists {
		s.lastSeq++
		rec = &record{seq: s.lastSeq, Account: Account{
			ID:           newUUID(),
			ExternalID:   req.externalID,
			Fields:       map[string]any{},
			CustomFields: map[string]any{},
			CreatedAt:    now,
			UpdatedAt:    now,
			Version:      1,
		}}
		s.accounts[req.externalID] = rec
		s.byID[rec.ID] = rec
	}

	changed := false
	if req.name != nil && *req.name != rec.Name {
		rec.Name = *req.name
		changed = true
	}
	changed = mergeValues(rec.CustomFields, req.customFields) || changed
	changed = mergeValues(rec.Fields, req.fields) || changed
	if exists && changed {
		rec.Version++
		rec.UpdatedAt = now
	}
	return copyAccount(rec.Account), !exists
}

// mergeValues sets every non-null value of update in stored and reports
// whether a stored value changed.
func mergeValues(stored, update map[string]any) bool {
	changed := false
	for key, value := range update {
		if value == nil {
			continue
		}
		if old, ok := stored[key]; ok && reflect.DeepEqual(old, value) {
			continue
		}
		stored[key] = value
		changed = true
	}
	return changed
}

// handleList implements GET /v1/accounts?cursor=&limit=. Accounts are listed
// in creation order, so paging is stable while accounts are added. The
// response is {"data": [...], "nextCursor": "..." or null, "hasMore": bool};
// the cursor is opaque to clients.
func (s *Server) handleList(rw *responder) {
	query := rw.r.URL.Query()
	limit := defaultPageSize
	if raw := query.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxPageSize {
			rw.send(http.StatusBadRequest, errorBody("limit must be an integer from 1 to "+strconv.Itoa(maxPageSize)+", got "+strconv.Quote(raw)))
			return
		}
		limit = n
	}
	after := int64(0)
	if raw := query.Get("cursor"); raw != "" {
		seq, ok := decodeCursor(raw)
		if !ok {
			rw.send(http.StatusBadRequest, errorBody("invalid cursor "+strconv.Quote(raw)))
			return
		}
		after = seq
	}

	s.mu.Lock()
	var matching []*record
	for _, rec := range s.accounts {
		if rec.seq > after {
			matching = append(matching, rec)
		}
	}
	slices.SortFunc(matching, func(a, b *record) int { return cmp.Compare(a.seq, b.seq) })
	hasMore := len(matching) > limit
	if hasMore {
		matching = matching[:limit]
	}
	data := make([]any, 0, len(matching))
	for _, rec := range matching {
		data = append(data, accountJSON(copyAccount(rec.Account)))
	}
	s.mu.Unlock()

	var next any
	if hasMore {
		next = encodeCursor(matching[len(matching)-1].seq)
	}
	rw.send(http.StatusOK, map[string]any{"data": data, "nextCursor": next, "hasMore": hasMore})
}

// handleGet implements GET /v1/accounts/{id} with Atlas' id.
func (s *Server) handleGet(rw *responder, id string) {
	s.mu.Lock()
	rec, ok := s.byID[id]
	var account Account
	if ok {
		account = copyAccount(rec.Account)
	}
	s.mu.Unlock()
	if !ok {
		rw.send(http.StatusNotFound, errorBody("account "+strconv.Quote(id)+" not found"))
		return
	}
	rw.send(http.StatusOK, accountJSON(account))
}

// accountJSON is the API representation: other top-level keys first, then
// the fixed ones, which take precedence.
func accountJSON(a Account) map[string]any {
	out := make(map[string]any, len(a.Fields)+6)
	maps.Copy(out, a.Fields)
	out["id"] = a.ID
	out["externalId"] = a.ExternalID
	out["name"] = a.Name
	out["customFields"] = a.CustomFields
	out["createdAt"] = a.CreatedAt.Format(time.RFC3339Nano)
	out["updatedAt"] = a.UpdatedAt.Format(time.RFC3339Nano)
	return out
}

func copyAccount(a Account) Account {
	a.Fields = deepCopy(a.Fields).(map[string]any)
	a.CustomFields = deepCopy(a.CustomFields).(map[string]any)
	return a
}

func deepCopy(value any) any {
	switch v := value.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[k] = deepCopy(item)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = deepCopy(item)
		}
		return out
	default:
		return value
	}
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(cursor string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, false
	}
	digits, ok := strings.CutPrefix(string(raw), "seq:")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	return seq, err == nil && seq >= 0
}

// newUUID returns a random UUID version 4 (RFC 9562).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
