package provider

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/micropay/micropay/internal/durable"
)

// ErrTokenFile is the error of ReadToken and LoadOrCreateToken for a token
// file that is not safe to trust: not a regular file, readable by others,
// or not exactly one token.
var ErrTokenFile = errors.New("provider: unsafe or malformed operator token file")

// TokenBytes is the entropy of an operator token; its text is twice as
// many lowercase hex digits.
const TokenBytes = 32

// tokenFileSize is a token file's exact size: the hex token and a newline.
const tokenFileSize = 2*TokenBytes + 1

// LoadOrCreateToken returns the operator token kept in the file at path,
// creating the file (mode 0600, atomically, synced) with a fresh random
// token if there is none. Of two processes creating it at once, both end
// up with the token that won. An existing file is checked as ReadToken
// does.
func LoadOrCreateToken(path string) (string, error) {
	tok, err := ReadToken(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var raw [TokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	tok = hex.EncodeToString(raw[:])
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	if err := writeTokenFile(path, tok); errors.Is(err, fs.ErrExist) {
		return ReadToken(path) // another process created it first
	} else if err != nil {
		return "", fmt.Errorf("operator token %s: %w", path, err)
	}
	return tok, nil
}

// writeTokenFile writes tok to a temporary file (0600, as os.CreateTemp
// makes it), syncs it and links it to path, so that path never holds a
// partial token and an existing path is never replaced (fs.ErrExist).
func writeTokenFile(path, tok string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".operator-token-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(tok + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	return durable.Sync(dir)
}

// ReadToken reads the operator token from the file at path. The file is
// refused (ErrTokenFile) unless it is a regular file (not a symlink) that
// only its owner may read or write, holding exactly TokenBytes as lowercase
// hex and a newline. A missing file is an error wrapping fs.ErrNotExist.
func ReadToken(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	if err := checkTokenFileInfo(path, fi); err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	if !os.SameFile(fi, opened) {
		return "", fmt.Errorf("%w: %s was replaced while it was read", ErrTokenFile, path)
	}
	if err := checkTokenFileInfo(path, opened); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, tokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("operator token %s: %w", path, err)
	}
	if len(b) != tokenFileSize || b[tokenFileSize-1] != '\n' {
		return "", fmt.Errorf("%w: %s holds %d bytes, want %d hex digits and a newline", ErrTokenFile, path, len(b), 2*TokenBytes)
	}
	tok := string(b[:2*TokenBytes])
	if raw, err := hex.DecodeString(tok); err != nil || hex.EncodeToString(raw) != tok {
		return "", fmt.Errorf("%w: %s does not hold lowercase hex", ErrTokenFile, path)
	}
	return tok, nil
}

func checkTokenFileInfo(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%s)", ErrTokenFile, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, others may read it; chmod 600 %s", ErrTokenFile, path, perm, path)
	}
	if fi.Size() != tokenFileSize {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrTokenFile, path, fi.Size(), tokenFileSize)
	}
	return nil
}
