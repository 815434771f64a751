//go:build unix

package csv

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRejectsFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.csv")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := Open(context.Background(), Options{Path: path})
	if err == nil {
		t.Fatal("Open succeeded on a FIFO")
	}
	if !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not explain the problem", err)
	}
}
