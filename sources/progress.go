package sources

// Progresser is implemented by sources that know how much of their input
// they have read, such as a CSV file. The engine uses it for progress
// reports and to estimate the time a run has left. Unlike the rest of a
// Source, its methods must be safe to call from another goroutine while
// Next runs.
type Progresser interface {
	// Size returns the input's size in bytes, or 0 when it is unknown.
	Size() int64

	// BytesRead returns how many bytes of the input have been read so
	// far. It may run ahead of the records returned by up to one read
	// buffer.
	BytesRead() int64
}
