package consumer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/iotaledger/wasp/packages/cryptolib"

	"github.com/micropay/micropay/internal/durable"
)

// KeyFileMode is the only permission a key file may have: read and write
// by its owner, nothing for group or others.
const KeyFileMode fs.FileMode = 0o600

// maxKeyFile bounds what LoadKeyFile reads: a key file is 65 bytes.
const maxKeyFile = 1 << 10

// Key file errors, checked with errors.Is.
var (
	// ErrKeyFilePermissions: the key file is open to group or others.
	ErrKeyFilePermissions = errors.New("consumer: key file permissions too open")
	// ErrKeyFileMalformed: the key file does not hold a hex ed25519 seed.
	ErrKeyFileMalformed = errors.New("consumer: key file malformed")
)

// CreateKeyFile creates a new ed25519 key and writes its 32-byte seed to
// path as 64 hex digits and a newline, with mode 0600. It never overwrites:
// it fails if path exists. The file and its directory are synced before it
// returns, so a key that was returned survives a crash.
func CreateKeyFile(path string) (*cryptolib.KeyPair, error) {
	seed := cryptolib.NewSeed()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, KeyFileMode)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if err := writeKeyFile(f, seed); err != nil {
		return nil, errors.Join(fmt.Errorf("create key file %s: %w", path, err), os.Remove(path))
	}
	if err := durable.Sync(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("create key file %s: sync directory: %w", path, err)
	}
	return cryptolib.KeyPairFromSeed(seed), nil
}

// writeKeyFile writes the seed, forces the mode (the umask only ever
// removes bits, but an unusual umask could remove the owner's), syncs and
// closes f.
func writeKeyFile(f *os.File, seed cryptolib.Seed) error {
	line := make([]byte, hex.EncodedLen(len(seed))+1)
	hex.Encode(line, seed[:])
	line[len(line)-1] = '\n'
	_, err := f.Write(line)
	if err == nil {
		err = f.Chmod(KeyFileMode)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// LoadKeyFile reads a key written by CreateKeyFile. It refuses a file that
// group or others may access in any way (ErrKeyFilePermissions, with the
// fix in the message) and one that is not a 64-hex-digit seed with an
// optional trailing newline (ErrKeyFileMalformed). The permissions are
// checked on the opened file, so they are those of the bytes read.
func LoadKeyFile(path string) (*cryptolib.KeyPair, error) {
	b, perm, err := readSmallFile(path, maxKeyFile)
	if errors.Is(err, errNotRegular) {
		return nil, fmt.Errorf("%w: %v", ErrKeyFileMalformed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load key file: %w", err)
	}
	if perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, which lets group or others read it; run: chmod 600 %s",
			ErrKeyFilePermissions, path, perm, path)
	}
	seed, err := parseSeed(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFileMalformed, path, err)
	}
	return cryptolib.KeyPairFromSeed(seed), nil
}

// errNotRegular: readSmallFile found no regular file.
var errNotRegular = errors.New("not a regular file")

// readSmallFile reads the regular file at path, at most limit+1 bytes (so
// that a caller sees it is too long), and returns its permission bits,
// taken from the opened file, so they are those of the bytes read. A path
// that is not a regular file is an error wrapping errNotRegular.
func readSmallFile(path string, limit int64) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is %w (%s)", path, errNotRegular, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return b, st.Mode().Perm(), nil
}

// parseSeed parses 64 hex digits and an optional "\n" (or "\r\n"). Its
// errors never quote the content: it is a secret.
func parseSeed(b []byte) (cryptolib.Seed, error) {
	var seed cryptolib.Seed
	if len(b) > maxKeyFile {
		return seed, fmt.Errorf("longer than %d bytes; want %d hex digits", maxKeyFile, hex.EncodedLen(len(seed)))
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) != hex.EncodedLen(len(seed)) {
		return seed, fmt.Errorf("want %d hex digits (a %d-byte ed25519 seed) and a newline, got %d bytes",
			hex.EncodedLen(len(seed)), len(seed), len(b))
	}
	if _, err := hex.Decode(seed[:], b); err != nil {
		return cryptolib.Seed{}, errors.New("not hexadecimal")
	}
	return seed, nil
}
