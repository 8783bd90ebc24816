//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package devnet

// lockDir does nothing where flock is missing: do not start two devnets on
// one directory there.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
