package mapping

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/atlas-sync/atlas-sync/sources"
)

// Payload is one account upsert, ready to send.
type Payload struct {
	ExternalID string

	// Body is the canonical JSON request body, sent as is. The caller owns
	// it.
	Body []byte

	// Hash is the first 16 bytes of the SHA-256 of Body. Equal bodies have
	// equal hashes, which is what the checkpoint diff compares.
	Hash [16]byte
}

// Mapper converts records of one source into payloads. It is safe for
// concurrent use.
type Mapper struct {
	externalID *field
	top        []topEntry // sorted by key
	custom     []*field   // sorted by key
	columns    []string   // source columns read, in mapping order
	width      int        // 1 + the highest column index read

	buffers sync.Pool // *[]byte, reused between calls to Map
}

// topEntry is one key of the body's top-level object.
type topEntry struct {
	key          string
	keyJSON      []byte // `"key":`
	field        *field // nil for customFields
	customFields bool
}

// maxPooledBuffer bounds the buffers kept for reuse, so that one huge
// record does not pin its memory for the rest of the run.
const maxPooledBuffer = 1 << 20

// Map converts rec. Any error is a *sources.RowError naming rec.Position
// and the source column at fault. Only rec.Values is read, so a record whose
// Values the source reuses may be passed as is.
func (m *Mapper) Map(rec sources.Record) (Payload, error) {
	bufPtr, _ := m.buffers.Get().(*[]byte)
	if bufPtr == nil {
		bufPtr = new([]byte)
	}
	buf, payload, err := m.MapAppend((*bufPtr)[:0], rec)
	if err == nil {
		// The copy comes first: once in the pool, buf is another
		// goroutine's.
		body := make([]byte, len(payload.Body))
		copy(body, payload.Body)
		payload.Body = body
	}
	if cap(buf) <= maxPooledBuffer {
		*bufPtr = buf
		m.buffers.Put(bufPtr)
	}
	if err != nil {
		return Payload{}, err
	}
	return payload, nil
}

// MapAppend converts rec like Map, but appends the body to dst and returns
// the extended slice. The payload's Body is the appended part, so it
// shares memory with the result and stays valid only while the caller
// leaves that memory alone. On error it returns dst unchanged. A caller
// that needs few of the bodies, such as a diff that keeps only changed
// rows, saves an allocation per row.
func (m *Mapper) MapAppend(dst []byte, rec sources.Record) ([]byte, Payload, error) {
	if len(rec.Values) < m.width {
		return dst, Payload{}, &sources.RowError{
			Position: rec.Position,
			Err:      fmt.Errorf("the record has %d values, but the mapping reads column %d", len(rec.Values), m.width),
		}
	}

	externalID, err := m.externalID.externalID(rec.Values)
	if err != nil {
		return dst, Payload{}, m.externalID.rowError(rec.Position, err)
	}

	start := len(dst)
	buf := append(dst, '{')
	for i := range m.top {
		entry := &m.top[i]
		if entry.customFields {
			buf, err = m.appendCustomFields(buf, entry.keyJSON, rec)
		} else {
			buf, err = entry.field.appendMember(buf, rec.Values)
			if err != nil {
				err = entry.field.rowError(rec.Position, err)
			}
		}
		if err != nil {
			return buf[:start], Payload{}, err
		}
	}
	buf = append(buf, '}')

	body := buf[start:len(buf):len(buf)]
	sum := sha256.Sum256(body)
	return buf, Payload{ExternalID: externalID, Body: body, Hash: [16]byte(sum[:16])}, nil
}

// appendCustomFields writes the customFields object, or nothing when every
// custom field is left out.
func (m *Mapper) appendCustomFields(buf, keyJSON []byte, rec sources.Record) ([]byte, error) {
	mark := len(buf)
	buf = appendKey(buf, keyJSON)
	buf = append(buf, '{')
	open := len(buf)
	for _, f := range m.custom {
		var err error
		buf, err = f.appendMember(buf, rec.Values)
		if err != nil {
			return buf, f.rowError(rec.Position, err)
		}
	}
	if len(buf) == open {
		return buf[:mark], nil
	}
	return append(buf, '}'), nil
}

// Columns returns the source columns the mapping reads, each once, in the
// order of the mapping: external_id, name, then fields and custom_fields by
// key, with address parts in the order of their JSON keys.
func (m *Mapper) Columns() []string {
	return append([]string(nil), m.columns...)
}

// appendKey writes a comma, unless buf ends with an opening brace, and
// keyJSON, the escaped `"key":`.
func appendKey(buf, keyJSON []byte) []byte {
	if buf[len(buf)-1] != '{' {
		buf = append(buf, ',')
	}
	return append(buf, keyJSON...)
}

// keyJSON returns the escaped `"key":`.
func keyJSON(key string) []byte {
	return append(appendString(nil, key), ':')
}
