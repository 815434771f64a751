// Package reliability holds cross-cutting tests that break atlas-sync on
// purpose: faults injected by the Atlas emulator, SIGKILL and a full disk
// under the built binary, hostile input and secret handling. It has no
// code of its own; docs/reliability.md lists each case and its result.
package reliability
