package consumer_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/consumer"
)

func TestCreateAndLoadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payer.key")
	key, err := consumer.CreateKeyFile(path)
	require.NoError(t, err)

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, b, 65, "64 hex digits and a newline")
	require.True(t, strings.HasSuffix(string(b), "\n"))

	loaded, err := consumer.LoadKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, key.GetPrivateKey().AsBytes(), loaded.GetPrivateKey().AsBytes())
	require.True(t, key.Address().Equal(loaded.Address()))

	other, err := consumer.CreateKeyFile(filepath.Join(t.TempDir(), "other.key"))
	require.NoError(t, err)
	require.False(t, key.Address().Equal(other.Address()), "every key file gets a fresh random key")
}

func TestCreateKeyFileNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payer.key")
	_, err := consumer.CreateKeyFile(path)
	require.NoError(t, err)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	_, err = consumer.CreateKeyFile(path)
	require.ErrorIs(t, err, fs.ErrExist)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "the existing key is untouched")

	_, err = consumer.CreateKeyFile(filepath.Join(t.TempDir(), "missing-dir", "payer.key"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadKeyFileRefusesLoosePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payer.key")
	_, err := consumer.CreateKeyFile(path)
	require.NoError(t, err)
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o660, 0o601, 0o610, 0o666, 0o777} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := consumer.LoadKeyFile(path)
		require.ErrorIs(t, err, consumer.ErrKeyFilePermissions, "mode %04o", mode)
		require.ErrorContains(t, err, path)
		require.ErrorContains(t, err, fmt.Sprintf("mode %04o", mode))
		require.ErrorContains(t, err, "chmod 600 "+path)
	}
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := consumer.LoadKeyFile(path)
		require.NoError(t, err, "mode %04o is private", mode)
	}
}

func TestLoadKeyFileRejectsMalformed(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("ab", 31) + "zz" // 64 characters, not hex
	for name, content := range map[string]string{
		"empty":          "",
		"short":          strings.Repeat("ab", 31) + "\n",
		"long":           strings.Repeat("ab", 33) + "\n",
		"not hex":        secret + "\n",
		"two newlines":   strings.Repeat("ab", 32) + "\n\n",
		"leading space":  " " + strings.Repeat("ab", 32),
		"huge":           strings.Repeat("a", 4096),
		"base64 instead": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := consumer.LoadKeyFile(path)
			require.ErrorIs(t, err, consumer.ErrKeyFileMalformed)
			require.ErrorContains(t, err, path)
			require.NotContains(t, err.Error(), secret, "a key file's content is never echoed")
		})
	}
	for name, content := range map[string]string{
		"no newline": strings.Repeat("ab", 32),
		"crlf":       strings.Repeat("AB", 32) + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := consumer.LoadKeyFile(path)
			require.NoError(t, err)
		})
	}

	_, err := consumer.LoadKeyFile(dir)
	require.ErrorIs(t, err, consumer.ErrKeyFileMalformed, "a directory is not a key file")
	_, err = consumer.LoadKeyFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}
