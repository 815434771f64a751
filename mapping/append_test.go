package mapping

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atlas-sync/atlas-sync/sources"
)

func TestMapAppendMatchesMap(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	rec := northwind()
	want, err := mapper.Map(rec)
	if err != nil {
		t.Fatal(err)
	}

	dst := []byte("earlier bodies|")
	out, got, err := mapper.MapAppend(dst, rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("MapAppend body = %s, want %s", got.Body, want.Body)
	}
	if got.Hash != want.Hash || got.ExternalID != want.ExternalID {
		t.Errorf("MapAppend = %s %x, want %s %x", got.ExternalID, got.Hash, want.ExternalID, want.Hash)
	}
	if string(out) != "earlier bodies|"+string(want.Body) {
		t.Errorf("MapAppend result = %q, want dst followed by the body", out)
	}
	if cap(got.Body) != len(got.Body) {
		t.Errorf("Body has spare capacity %d; an append to it would overwrite the caller's next body", cap(got.Body)-len(got.Body))
	}
}

func TestMapAppendErrorKeepsDst(t *testing.T) {
	mapper := mustNew(t, crmMapping(), crmColumns)
	rec := northwind()
	values := append([]sources.Value(nil), rec.Values...)
	values[0] = sources.Value{} // empty externalId
	rec.Values = values

	out, payload, err := mapper.MapAppend([]byte("kept"), rec)
	var rowErr *sources.RowError
	if !errors.As(err, &rowErr) {
		t.Fatalf("error %v, want a *sources.RowError", err)
	}
	if string(out) != "kept" || payload.Body != nil {
		t.Errorf("after an error: result %q, body %q; want \"kept\" and no body", out, payload.Body)
	}
}
