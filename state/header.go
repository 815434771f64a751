package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// sqliteMagic starts every SQLite 3 database file.
const sqliteMagic = "SQLite format 3\x00"

// sqliteHeaderSize is the length of the database header at the start of
// page 1. Layout: https://www.sqlite.org/fileformat.html#the_database_header
const sqliteHeaderSize = 100

// checkFileHeader inspects an existing state file before SQLite opens it,
// so that a foreign or damaged file is rejected without being written to.
// An empty file passes: SQLite treats it as a new database, and Open
// creates the file empty before the first migration.
func checkFileHeader(path string) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open state file %s: %w", path, err)
	}
	defer file.Close()

	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("stat state file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("state file %s is not a regular file (mode %s); set state.path to a file", path, info.Mode())
	}
	size := info.Size()
	if size == 0 {
		return nil
	}

	header := make([]byte, sqliteHeaderSize)
	n, err := io.ReadFull(file, header)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read header of state file %s: %w", path, err)
	}
	header = header[:n]

	if !strings.HasPrefix(string(header), sqliteMagic) {
		if n < len(sqliteMagic) && strings.HasPrefix(sqliteMagic, string(header)) {
			return corruptError(path, fmt.Sprintf("the file has only %d bytes", size))
		}
		return fmt.Errorf("state file %s: %w: it does not start with the SQLite header; "+
			"set state.path to an atlas-sync state file, or move this file away to start a new one",
			path, ErrNotSQLite)
	}
	if n < sqliteHeaderSize {
		return corruptError(path, fmt.Sprintf("the file has only %d bytes, shorter than the 100-byte SQLite header", size))
	}

	return checkDatabaseSize(path, header, size)
}

// checkDatabaseSize compares the page count recorded in the header with
// the file size. The recorded count is valid only when the change counter
// (offset 24) equals the "version-valid-for" number (offset 92). A WAL or
// rollback journal next to the file may still hold pages that belong at
// the end, so the check is skipped while one exists and SQLite's own
// recovery runs instead.
func checkDatabaseSize(path string, header []byte, size int64) error {
	pageSize := int64(binary.BigEndian.Uint16(header[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return corruptError(path, fmt.Sprintf("the header records an invalid page size %d", pageSize))
	}

	pages := int64(binary.BigEndian.Uint32(header[28:32]))
	changeCounter := binary.BigEndian.Uint32(header[24:28])
	validFor := binary.BigEndian.Uint32(header[92:96])
	if pages == 0 || changeCounter != validFor || hasJournal(path) {
		return nil
	}

	if want := pages * pageSize; size < want {
		return corruptError(path, fmt.Sprintf("the header records %d pages of %d bytes (%d bytes) but the file has %d bytes",
			pages, pageSize, want, size))
	}
	return nil
}

func hasJournal(path string) bool {
	for _, suffix := range []string{"-wal", "-journal"} {
		if info, err := os.Stat(path + suffix); err == nil && info.Size() > 0 {
			return true
		}
	}
	return false
}

func corruptError(path, detail string) error {
	return fmt.Errorf("state file %s: %w: %s; restore it from a backup, or move it away "+
		"to start a new state file (every account is then sent once more)", path, ErrCorrupt, detail)
}
