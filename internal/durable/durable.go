// Package durable holds the file-system steps that make a write survive a
// power loss and that the stores of both parties share.
package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// CreateDir creates dir and its missing parents (mode perm) and syncs the
// directory holding each one it created. Pebble syncs what it creates inside
// its directory but not that directory's entry in its parent: without this,
// a power loss soon after the first open could lose a whole store with every
// synced record in it (the power-loss tests of client/store and
// client/consumer).
func CreateDir(fs vfs.FS, dir string, perm os.FileMode) error {
	var missing []string // dir, then its missing ancestors
	for d := dir; ; d = fs.PathDir(d) {
		_, err := fs.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if fs.PathDir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fs.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, d := range missing {
		parent, err := fs.OpenDir(fs.PathDir(d))
		if err != nil {
			return err
		}
		if err := errors.Join(parent.Sync(), parent.Close()); err != nil {
			return fmt.Errorf("sync the directory holding %s: %w", d, err)
		}
	}
	return nil
}

// Sync fsyncs the file or directory at path: after a rename, syncing the
// directory makes the new name durable.
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// CheckFormat writes version under key into a new pebble database (synced)
// and refuses a database holding another version with an error wrapping
// corrupt. Both parties' stores call it on open.
func CheckFormat(db *pebble.DB, key []byte, version byte, corrupt error) error {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return db.Set(key, []byte{version}, pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if len(v) != 1 || v[0] != version {
		return fmt.Errorf("%w: format version %x, want %d", corrupt, v, version)
	}
	return nil
}

// WriteFile replaces the file at path with data, atomically and durably: a
// temporary file in the same directory is written, given mode perm,
// synced and renamed over path, and the directory is synced. A crash
// leaves either the old file or the new one, never a mix; a temporary file
// may be left behind.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return Sync(dir)
}
