package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// ErrDamaged: Open found that the store in a directory lost data it had
// (its write-ahead log, its CURRENT file, the whole directory) or that the
// directory holds another store. Opening it anyway would show fewer
// payments than were acknowledged, and the provider would accept them
// again; the error names what is missing and what to do.
var ErrDamaged = errors.New("store: damaged")

// A store's identity is a random ID kept in two places: the database
// (keyIdentity) and a sentinel file beside the directory, outside Pebble
// and outside the directory, so that losing the write-ahead log (the
// database opens without the identity), the CURRENT file or the whole
// directory is seen on the next Open. Open writes the identity into the
// database (synced) first and the sentinel second, so a crash in between
// leaves a store that Open completes, never one it refuses.
//
// Covered by TestOpenRefusesDamagedStore and FuzzParseSentinel.
var keyIdentity = []byte{prefixMeta, 'i', 'd'}

// identityLen is the length of a store ID in bytes.
const identityLen = 16

// sentinelSuffix is appended to the store directory's path to name its
// sentinel file: "/var/lib/micropay/provider.store-id".
const sentinelSuffix = ".store-id"

// sentinelMagic starts a sentinel file; the hex ID and a newline follow.
const sentinelMagic = "micropay store "

// sentinelSize is a sentinel file's exact size.
const sentinelSize = len(sentinelMagic) + 2*identityLen + 1

// SentinelPath returns the path of the sentinel file Open keeps for the
// store in dir. Moving a store means moving both; starting afresh on
// purpose means removing both.
func SentinelPath(dir string) string {
	return strings.TrimRight(dir, `/\`) + sentinelSuffix
}

// parseSentinel decodes a sentinel file's content.
func parseSentinel(b []byte) ([identityLen]byte, error) {
	var id [identityLen]byte
	if len(b) != sentinelSize || !strings.HasPrefix(string(b), sentinelMagic) || b[len(b)-1] != '\n' {
		return id, fmt.Errorf("want %q, the 32 hex digits of the store ID and a newline (%d bytes), got %d bytes", sentinelMagic, sentinelSize, len(b))
	}
	hexID := b[len(sentinelMagic) : len(b)-1]
	if _, err := hex.Decode(id[:], hexID); err != nil || hex.EncodeToString(id[:]) != string(hexID) {
		return [identityLen]byte{}, errors.New("the store ID is not lowercase hex")
	}
	return id, nil
}

func formatSentinel(id [identityLen]byte) []byte {
	return []byte(sentinelMagic + hex.EncodeToString(id[:]) + "\n")
}

// sentinelHint is what to do about a bad sentinel.
const sentinelHint = "restore it from a backup, or, if the store directory beside it is intact, remove it and Open writes it again"

// readSentinel reads the sentinel at path; ok is false when there is none.
// A sentinel that is not a regular file of the right form is ErrDamaged.
func readSentinel(fs vfs.FS, path string) (id [identityLen]byte, ok bool, err error) {
	fi, err := fs.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != int64(sentinelSize) {
		return id, false, fmt.Errorf("%w: sentinel %s is not a %d-byte regular file; %s", ErrDamaged, path, sentinelSize, sentinelHint)
	}
	f, err := fs.Open(path)
	if err != nil {
		return id, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(sentinelSize)+1))
	if err != nil {
		return id, false, err
	}
	if id, err = parseSentinel(b); err != nil {
		return id, false, fmt.Errorf("%w: sentinel %s: %v; %s", ErrDamaged, path, err, sentinelHint)
	}
	return id, true, nil
}

// writeSentinel writes the sentinel at path atomically: a synced temporary
// file renamed into place, then the directory synced.
func writeSentinel(fs vfs.FS, path string, id [identityLen]byte) error {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	_, werr := f.Write(formatSentinel(id))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	d, err := fs.OpenDir(fs.PathDir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// dirFiles is what a directory holds of a Pebble database.
type dirFiles struct {
	current, manifest, log, other bool // other: sstables, OPTIONS
}

func (d dirFiles) any() bool { return d.current || d.manifest || d.log || d.other }

func listDir(fs vfs.FS, dir string) (dirFiles, error) {
	var d dirFiles
	names, err := fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	for _, n := range names {
		switch {
		case n == "CURRENT":
			d.current = true
		case strings.HasPrefix(n, "MANIFEST-"):
			d.manifest = true
		case strings.HasSuffix(n, ".log"):
			d.log = true
		case strings.HasSuffix(n, ".sst"), strings.HasPrefix(n, "OPTIONS-"):
			d.other = true
		}
	}
	return d, nil
}

// restoreHint is what to do about a damaged store in dir.
func restoreHint(dir string) string {
	return fmt.Sprintf("restore %s from a backup; to start afresh on purpose, move both it and %s away", dir, SentinelPath(dir))
}

// checkFiles runs before pebble.Open: it refuses what Pebble would open
// as an empty or partial database, or panic on. sentinel says whether a
// complete store was made here.
func checkFiles(d dirFiles, dir string, sentinel bool) error {
	restore := restoreHint(dir)
	switch {
	case d.any() && !d.current:
		return fmt.Errorf("%w: %s has database files but no CURRENT file, so Pebble cannot tell which manifest is live; %s", ErrDamaged, dir, restore)
	case sentinel && !d.any():
		return fmt.Errorf("%w: %s says a store was created in %s, which holds no database now: acknowledged payments are gone; %s", ErrDamaged, SentinelPath(dir), dir, restore)
	case sentinel && !d.log:
		return fmt.Errorf("%w: %s has no write-ahead log (*.log): the latest acknowledged payments are gone; %s", ErrDamaged, dir, restore)
	}
	return nil
}

// checkIdentity runs after pebble.Open: the database must hold the
// sentinel's ID. A store without a sentinel (new, or created before
// sentinels, or interrupted between the two writes) gets one.
func checkIdentity(fs vfs.FS, db *pebble.DB, dir string, sentinel [identityLen]byte, hasSentinel bool) error {
	stored, ok, err := get(db, keyIdentity, func(v []byte) ([identityLen]byte, error) {
		var id [identityLen]byte
		if len(v) != identityLen {
			return id, fmt.Errorf("%w: store ID of %d bytes, want %d", ErrCorrupt, len(v), identityLen)
		}
		copy(id[:], v)
		return id, nil
	})
	if err != nil {
		return err
	}
	restore := restoreHint(dir)
	switch {
	case hasSentinel && !ok:
		return fmt.Errorf("%w: %s names store %x, but the database in %s has no store ID: it lost the writes since it was created (its write-ahead log) or was replaced; %s",
			ErrDamaged, SentinelPath(dir), sentinel, dir, restore)
	case hasSentinel && stored != sentinel:
		return fmt.Errorf("%w: %s names store %x, but %s holds store %x: the directory or the sentinel belongs to another store; %s",
			ErrDamaged, SentinelPath(dir), sentinel, dir, stored, restore)
	case hasSentinel:
		return nil
	}
	if !ok {
		if _, err := rand.Read(stored[:]); err != nil {
			return fmt.Errorf("new store ID: %w", err)
		}
		if err := db.Set(keyIdentity, stored[:], pebble.Sync); err != nil {
			return fmt.Errorf("write store ID: %w", err)
		}
	}
	if err := writeSentinel(fs, SentinelPath(dir), stored); err != nil {
		return fmt.Errorf("write sentinel %s: %w", SentinelPath(dir), err)
	}
	return nil
}
