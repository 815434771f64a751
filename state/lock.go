package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// fileLock is an exclusive flock(2) on "<state path>.lock". The kernel
// releases it when the holder exits, however it exits, so a lock file left
// behind by a crashed process never blocks the next one. The lock file is
// not removed on release: removing it would let a second process lock a
// fresh inode while a third still waits on the old one.
//
// NOTE: flock is advisory and local to one host; on NFS it may not
// exclude a process on another machine.
type fileLock struct {
	file *os.File
}

func lockPath(dbPath string) string {
	return dbPath + ".lock"
}

// acquireLock takes the lock without waiting and writes the caller's PID
// into the lock file. It returns *LockedError when another open file
// description holds the lock, which on Linux includes a second Open of the
// same path in the same process.
func acquireLock(dbPath string) (*fileLock, error) {
	path := lockPath(dbPath)
	file, err := openLockFile(path)
	if err != nil {
		return nil, err
	}

	if err := flockNonBlocking(file); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := readPID(file)
			file.Close()
			return nil, &LockedError{Path: dbPath, PID: pid}
		}
		file.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}

	if err := writePID(file); err != nil {
		file.Close()
		return nil, fmt.Errorf("write PID to lock file %s: %w", path, err)
	}
	return &fileLock{file: file}, nil
}

// openLockFile opens the lock file, creating it with mode 0600. The mode
// is set again after creation so that a permissive umask cannot widen it.
func openLockFile(path string) (*os.File, error) {
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err := file.Chmod(0o600); err != nil {
			file.Close()
			return nil, fmt.Errorf("set mode of lock file %s: %w", path, err)
		}
		return file, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create lock file %s: %w", path, err)
	}

	file, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	return file, nil
}

func flockNonBlocking(file *os.File) error {
	for {
		err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func writePID(file *os.File) error {
	if err := file.Truncate(0); err != nil {
		return err
	}
	_, err := file.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID returns the PID stored in the lock file, or 0 if it cannot be
// read or parsed.
func readPID(file *os.File) int {
	buf := make([]byte, 32)
	n, err := file.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// release drops the lock by closing the file; the file stays on disk.
func (l *fileLock) release() error {
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("release lock %s: %w", l.file.Name(), err)
	}
	return nil
}
