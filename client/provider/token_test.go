package provider_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/provider"
)

// TestLoadOrCreateToken: the first start creates a 0600 file holding a
// fresh token and a newline; later starts, and racing first starts, all
// get that same token.
func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", "operator-token")
	const racers = 8
	toks := make([]string, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range toks {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			toks[i], errs[i] = provider.LoadOrCreateToken(path)
		}(i)
	}
	wg.Wait()
	for i := range toks {
		require.NoError(t, errs[i])
		require.Equal(t, toks[0], toks[i], "racing creators disagree")
	}
	require.Len(t, toks[0], 2*provider.TokenBytes)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, toks[0]+"\n", string(b))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary files are left behind")

	again, err := provider.LoadOrCreateToken(path)
	require.NoError(t, err)
	require.Equal(t, toks[0], again)
	read, err := provider.ReadToken(path)
	require.NoError(t, err)
	require.Equal(t, toks[0], read)

	other, err := provider.LoadOrCreateToken(filepath.Join(t.TempDir(), "operator-token"))
	require.NoError(t, err)
	require.NotEqual(t, toks[0], other, "tokens are random")
}

// TestReadTokenRefusesHostileFiles: a token file is input from disk; one
// that others may read, a symlink, a directory, or one of the wrong size or
// alphabet is refused with ErrTokenFile, naming the file and the fix, and
// LoadOrCreateToken does not overwrite it.
func TestReadTokenRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	good := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	write := func(name, content string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	target := write("target", good, 0o600)
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	cases := map[string]struct {
		path, says string
	}{
		"world-readable": {write("readable", good, 0o644), "chmod 600"},
		"group-writable": {write("groupw", good, 0o620), "chmod 600"},
		"short":          {write("short", good[:40]+"\n", 0o600), "bytes"},
		"long":           {write("long", good+"00", 0o600), "bytes"},
		"huge":           {write("huge", string(make([]byte, 1<<20)), 0o600), "bytes"},
		"no newline":     {write("nonl", good[:64]+"0", 0o600), "newline"},
		"upper case":     {write("upper", "0123456789ABCDEF"+good[16:], 0o600), "lowercase hex"},
		"not hex":        {write("nothex", "zz"+good[2:], 0o600), "lowercase hex"},
		"symlink":        {link, "not a regular file"},
		"directory":      {sub, "not a regular file"},
	}
	for name, c := range cases {
		before, _ := os.ReadFile(c.path)
		_, err := provider.ReadToken(c.path)
		require.ErrorIs(t, err, provider.ErrTokenFile, name)
		require.ErrorContains(t, err, c.says, name)
		require.ErrorContains(t, err, c.path, name)
		_, err = provider.LoadOrCreateToken(c.path)
		require.ErrorIs(t, err, provider.ErrTokenFile, name)
		after, _ := os.ReadFile(c.path)
		require.Equal(t, before, after, "%s: the file was changed", name)
	}

	_, err := provider.ReadToken(filepath.Join(dir, "missing"))
	require.True(t, errors.Is(err, fs.ErrNotExist), "missing file: %v", err)
}
