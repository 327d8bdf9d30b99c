package store

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrCorrupt is returned when the database file is damaged (cut short,
// overwritten, bytes flipped): hoist refuses to start on it rather than act on
// half its memory.
var ErrCorrupt = errors.New("database file is damaged")

// corruptHint tells the operator what to do about a damaged file.
const corruptHint = "stop hoist, move the file aside (or restore a backup) and start again: " +
	"hoist then adopts the machines its providers list, but forgets events, API apps and overrides"

// guard runs f, turning a panic, or a memory fault in bbolt's memory map
// (which would otherwise kill the process), into an error. bbolt trusts the
// page references it reads from the file: on a damaged file it may index
// past the map or trip its own assertions.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: bbolt failed reading it: %v", ErrCorrupt, r)
		}
	}()
	return f()
}

// verify opens path read-only and checks it from end to end before the
// read-write open: the meta pages (bbolt checks their checksums), the file
// holding every page the meta pages count, every page reachable from the root
// (walked here, under guard), then bbolt's own consistency check (free list,
// page reachability, key order). A missing or empty file is fine: it is
// created. The error wraps ErrCorrupt and names the file, or wraps
// bolt.ErrTimeout when another process holds the file.
func verify(path string, timeout time.Duration) error {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && info.Size() == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	var db *bolt.DB
	err = guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout, PreLoadFreelist: true})
		return err
	})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	case err != nil && !errors.Is(err, ErrCorrupt):
		// Opening failed for another reason (a short read, an mmap refused):
		// on a file that exists and is not ours to fix, say it is damaged.
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	case err != nil:
		return err
	}
	defer db.Close()
	return guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if need := tx.Size(); need > info.Size() {
				return fmt.Errorf("%w: cut short: %d bytes, its pages need %d", ErrCorrupt, info.Size(), need)
			}
			if _, err := walk(tx); err != nil {
				return err
			}
			// The walk touched every reachable page, so bbolt's check (which
			// runs on its own goroutine, where a fault could not be caught)
			// reads only memory that is there.
			var errs []error
			for err := range tx.Check() {
				if len(errs) < 5 {
					errs = append(errs, err)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%w: %w", ErrCorrupt, errors.Join(errs...))
			}
			return nil
		})
	})
}

// walk reads every key and value of every bucket, nested ones included, so
// that a reference out of the file shows here, under guard.
func walk(tx *bolt.Tx) (sum byte, err error) {
	var bucket func(b *bolt.Bucket, depth int) error
	bucket = func(b *bolt.Bucket, depth int) error {
		if depth > 16 {
			return fmt.Errorf("%w: buckets nested %d deep", ErrCorrupt, depth)
		}
		return b.ForEach(func(k, v []byte) error {
			for _, c := range k {
				sum ^= c
			}
			for _, c := range v {
				sum ^= c
			}
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return bucket(sub, depth+1)
				}
			}
			return nil
		})
	}
	err = tx.ForEach(func(name []byte, b *bolt.Bucket) error { return bucket(b, 1) })
	return sum, err
}
