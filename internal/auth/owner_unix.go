//go:build unix

package auth

import (
	"os"
	"syscall"
)

// ownerOf is the uid owning a file (ok false where the system does not say).
func ownerOf(st os.FileInfo) (int, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(s.Uid), true
}
