package csv

import (
	"context"
	"fmt"
	"io"
)

// OpenReader reads a CSV stream that is not a file of its own, such as an
// entry of a ZIP archive, the same way Open reads a file. No file is
// opened: opts.Path names the input in error messages, and Name defaults
// to it. size is the stream's length in bytes for Size, or 0 when it is
// unknown. When r is an io.Closer, Close closes it, also when OpenReader
// returns an error.
func OpenReader(ctx context.Context, r io.Reader, size int64, opts Options) (*Source, error) {
	closer, ok := r.(io.Closer)
	if !ok {
		closer = io.NopCloser(r)
	}
	if err := ctx.Err(); err != nil {
		closer.Close()
		return nil, err
	}
	if opts.Delimiter == 0 {
		opts.Delimiter = ','
	}
	if err := checkDelimiter(opts.Delimiter); err != nil {
		closer.Close()
		return nil, fmt.Errorf("open %s: %w", opts.Path, err)
	}
	decoder, err := lookupEncoding(opts.Encoding)
	if err != nil {
		closer.Close()
		return nil, fmt.Errorf("open %s: %w", opts.Path, err)
	}

	s := &Source{
		path:   opts.Path,
		name:   opts.Name,
		file:   closer,
		size:   size,
		isUTF8: decoder == nil,
	}
	if s.name == "" {
		s.name = opts.Path
	}
	if err := s.start(r, decoder, opts); err != nil {
		closer.Close()
		return nil, err
	}
	return s, nil
}
