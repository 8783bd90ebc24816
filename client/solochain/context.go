package solochain

import (
	"fmt"
	"sync"

	"github.com/iotaledger/wasp/packages/solo"
)

// Context implements solo.Context for use outside tests. It is safe for
// concurrent use.
type Context struct {
	name string
	logf func(format string, args ...any)

	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

var _ solo.Context = (*Context)(nil)

// NewContext returns a Context named name. logf receives Solo's Logf lines;
// nil drops them.
func NewContext(name string, logf func(format string, args ...any)) *Context {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Context{name: name, logf: logf}
}

// failure is what FailNow panics with; Do recovers it into an error.
type failure struct{ msg string }

// Errorf records a failed Solo assertion.
func (c *Context) Errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// FailNow aborts the current Solo call; Do turns it into an error.
func (c *Context) FailNow() {
	c.mu.Lock()
	msg := "solo: failed"
	if n := len(c.errs); n > 0 {
		msg = c.errs[n-1]
		c.errs = nil
	}
	c.mu.Unlock()
	panic(failure{msg})
}

// Fatalf is Errorf followed by FailNow.
func (c *Context) Fatalf(format string, args ...any) {
	c.Errorf(format, args...)
	c.FailNow()
}

// Name returns the name given to NewContext.
func (c *Context) Name() string { return c.name }

// Helper does nothing: there is no test to attribute lines to.
func (c *Context) Helper() {}

// Logf forwards to the logf given to NewContext.
func (c *Context) Logf(format string, args ...any) { c.logf(format, args...) }

// Cleanup registers f to run on Close, last registered first.
func (c *Context) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

// Close runs the registered cleanups, which stops Solo's background work.
func (c *Context) Close() {
	c.mu.Lock()
	fs := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// Do runs fn and returns the failure of a Solo assertion inside it as an
// error instead of letting it unwind the process. Other panics pass through.
func Do(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("solo: %s", f.msg)
		}
	}()
	fn()
	return nil
}
