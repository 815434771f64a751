package csv

import (
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// invalidOffsets is the reference: it decodes data in one piece.
func invalidOffsets(data []byte) []int64 {
	var offsets []int64
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			offsets = append(offsets, int64(i))
		}
		i += size
	}
	return offsets
}

func TestInputReaderFindsInvalidBytesAcrossChunks(t *testing.T) {
	pieces := [][]byte{
		[]byte("a"), []byte("ü"), []byte("€"), []byte("𝄞"), {0xff}, {0xe2, 0x82}, {0xf0, 0x9d}, {0x80}, {0xc3},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	chunkers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for round := 0; round < 200; round++ {
		var data []byte
		for n := rng.IntN(40); n > 0; n-- {
			data = append(data, pieces[rng.IntN(len(pieces))]...)
		}
		want := invalidOffsets(data)
		for name, chunker := range chunkers {
			in := newInputReader(chunker(bytes.NewReader(data)), true)
			got, err := io.ReadAll(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s: the reader changed the data", name)
			}
			if !reflect.DeepEqual(in.invalid, want) && !(len(in.invalid) == 0 && len(want) == 0) {
				t.Fatalf("%s: data %x: invalid offsets %v, want %v", name, data, in.invalid, want)
			}
			if in.bytesRead.Load() != int64(len(data)) {
				t.Fatalf("%s: bytesRead = %d, want %d", name, in.bytesRead.Load(), len(data))
			}
		}
	}
}

func TestInputReaderClaimInvalid(t *testing.T) {
	in := &inputReader{invalid: []int64{3, 9, 10, 25}}
	if _, found := in.claimInvalid(3); found {
		t.Error("claimInvalid(3) found an offset before 3")
	}
	if first, found := in.claimInvalid(11); !found || first != 3 {
		t.Errorf("claimInvalid(11) = %d, %v, want 3, true", first, found)
	}
	if first, found := in.claimInvalid(30); !found || first != 25 {
		t.Errorf("claimInvalid(30) = %d, %v, want 25, true", first, found)
	}
	if _, found := in.claimInvalid(100); found {
		t.Error("claimInvalid(100) found an offset that was claimed already")
	}
}
