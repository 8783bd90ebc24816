package consumer

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/micropay/micropay/client/consumer/internal/pinfile"
	"github.com/micropay/micropay/internal/durable"
)

// PinsFileMode is the mode OpenPins writes the known-providers file with;
// it refuses a file that group or others may write.
const PinsFileMode os.FileMode = 0o600

// Pin errors, checked with errors.Is.
var (
	// ErrPinMismatch: a 402 names a provider other than the one its origin
	// is pinned to, or a provider pinned to other origins (*PinError).
	ErrPinMismatch = errors.New("consumer: origin and provider do not match their pins")
	// ErrPinsFull: the pins hold pinfile.MaxPins origins already.
	ErrPinsFull = errors.New("consumer: too many pinned origins")
	// ErrPinsMalformed: the known-providers file is malformed or unsafe.
	ErrPinsMalformed = errors.New("consumer: known-providers file malformed")
)

// PinError is a payment the Transport refused because its origin and
// provider do not match the pins. Nothing was signed or pinned.
type PinError struct {
	Origin   string // the origin that answered 402
	Provider string // the provider its offer names (payTo)
	// PinnedProvider is the provider Origin is pinned to, when it is
	// pinned to another one: the site changed provider, or was taken over.
	PinnedProvider string
	// PinnedOrigins are the origins Provider is pinned to, when Origin is
	// not pinned: Origin may relay that provider's 402 to have you pay for
	// what it fetches.
	PinnedOrigins []string
}

func (e *PinError) Error() string {
	if e.PinnedProvider != "" {
		return fmt.Sprintf("%v: %s is pinned to provider %s but now asks payment for %s; "+
			"if the site really changed provider, repin it explicitly (`micropay get --repin`)",
			ErrPinMismatch, e.Origin, e.PinnedProvider, e.Provider)
	}
	return fmt.Sprintf("%v: %s asks payment for provider %s, which is pinned to %s: "+
		"a site relaying another's 402 gets what you pay for; if the provider really serves %s too, "+
		"pin it explicitly (`micropay get --repin`)",
		ErrPinMismatch, e.Origin, e.Provider, strings.Join(e.PinnedOrigins, ", "), e.Origin)
}

// Unwrap makes errors.Is(err, ErrPinMismatch) true.
func (e *PinError) Unwrap() error { return ErrPinMismatch }

// Pins binds each origin (scheme://host[:port]) to the provider its
// payments go to, the first time the consumer pays it, like SSH's
// known_hosts, and to the price it was paid (PinPrice). An origin has one
// provider; a provider has the origins it was pinned at. Only an explicit
// repin changes a binding or binds a pinned provider to another origin; a
// repin to another provider forgets the origin's price. NewPins keeps them in memory;
// OpenPins in a file, rewritten atomically and synced at every new pin.
// A Pins is safe for concurrent use; a file must be used by one process at
// a time (the CLI's payer state lock sees to that).
type Pins struct {
	path string // "" in memory only

	mu       sync.Mutex
	byOrigin map[string]string   // origin → provider
	origins  map[string][]string // provider → its origins, sorted
	prices   map[string]uint64   // origin → the price last paid, for pinned origins only
}

// NewPins returns empty pins held in memory.
func NewPins() *Pins {
	return &Pins{byOrigin: map[string]string{}, origins: map[string][]string{}, prices: map[string]uint64{}}
}

// OpenPins returns the pins kept in the file at path (none if it does not
// exist yet; Bind creates it, mode 0600, in path's directory). It refuses
// a file group or others may write, one larger than pinfile.MaxSize and
// one that is not exactly the pinfile layout (ErrPinsMalformed).
func OpenPins(path string) (*Pins, error) {
	p := NewPins()
	p.path = path
	b, perm, err := readSmallFile(path, int64(pinfile.MaxSize))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if errors.Is(err, errNotRegular) {
		return nil, fmt.Errorf("%w: %v", ErrPinsMalformed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open pins: %w", err)
	}
	if perm&0o022 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, which lets group or others change your pins; run: chmod 600 %s",
			ErrPinsMalformed, path, perm, path)
	}
	pins, err := pinfile.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPinsMalformed, path, err)
	}
	for _, pin := range pins {
		p.add(pin.Origin, pin.Provider)
		if pin.Price != 0 {
			p.prices[pin.Origin] = pin.Price
		}
	}
	return p, nil
}

// Bound reports whether origin is pinned to a provider.
func (p *Pins) Bound(origin string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.byOrigin[origin]
	return ok
}

// Provider returns the provider origin is pinned to.
func (p *Pins) Provider(origin string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	provider, ok := p.byOrigin[origin]
	return provider, ok
}

// Check returns the error Bind would return for origin and provider
// without pinning anything.
func (p *Pins) Check(origin, provider string, repin bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.verdict(origin, provider, repin)
	return err
}

// Bind pins origin to provider unless that contradicts a pin: origin
// pinned to another provider, or origin not pinned and provider pinned to
// other origins, is a *PinError (ErrPinMismatch) unless repin. A new pin
// is on disk, for file-backed pins, when Bind returns nil; on an error
// nothing changed.
func (p *Pins) Bind(origin, provider string, repin bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	isNew, err := p.verdict(origin, provider, repin)
	if err != nil || !isNew {
		return err
	}
	if _, ok := p.byOrigin[origin]; !ok && len(p.byOrigin) >= pinfile.MaxPins {
		return fmt.Errorf("pin %s: %w (%d); remove some from %s", origin, ErrPinsFull, pinfile.MaxPins, p.path)
	}
	if p.path != "" {
		if err := p.save(pinfile.Pin{Origin: origin, Provider: provider}); err != nil {
			return fmt.Errorf("pin %s to %s: %w", origin, provider, err)
		}
	}
	p.remove(origin)
	p.add(origin, provider)
	return nil
}

// Price returns the price origin was last paid, if it is pinned and was
// paid.
func (p *Pins) Price(origin string) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	price, ok := p.prices[origin]
	return price, ok
}

// CheckPrice returns the error PinPrice would return without pinning
// anything.
func (p *Pins) CheckPrice(origin string, price uint64, allowChange bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.priceVerdict(origin, price, allowChange)
	return err
}

// PinPrice records price as what the pinned origin is paid. A different
// price than the one pinned is a *TermsChangedError (ErrTermsChanged),
// changing nothing, unless allowChange: then price replaces it. A new price
// is on disk, for file-backed pins, when PinPrice returns nil.
func (p *Pins) PinPrice(origin string, price uint64, allowChange bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	isNew, err := p.priceVerdict(origin, price, allowChange)
	if err != nil || !isNew {
		return err
	}
	provider, ok := p.byOrigin[origin]
	if !ok {
		return fmt.Errorf("consumer: pin the price of %s: the origin is not pinned to a provider", origin)
	}
	if p.path != "" {
		if err := p.save(pinfile.Pin{Origin: origin, Provider: provider, Price: price}); err != nil {
			return fmt.Errorf("pin the price of %s: %w", origin, err)
		}
	}
	p.prices[origin] = price
	return nil
}

// priceVerdict decides whether price may be pinned for origin and whether
// that changes the pins. p.mu must be held.
func (p *Pins) priceVerdict(origin string, price uint64, allowChange bool) (isNew bool, err error) {
	if price == 0 {
		return false, fmt.Errorf("consumer: cannot pin a price of 0 for %s", origin)
	}
	was, ok := p.prices[origin]
	switch {
	case !ok:
		return true, nil
	case was == price:
		return false, nil
	case allowChange:
		return true, nil
	}
	return false, &TermsChangedError{Origin: origin, Field: "price", Was: fmt.Sprint(was), Now: fmt.Sprint(price)}
}

// verdict decides whether origin may be bound to provider and whether that
// is a new pin. p.mu must be held.
func (p *Pins) verdict(origin, provider string, repin bool) (isNew bool, err error) {
	if err := errors.Join(pinfile.CheckOrigin(origin), pinfile.CheckProvider(provider)); err != nil {
		return false, fmt.Errorf("consumer: cannot pin %s to %s: %w", origin, provider, err)
	}
	was, pinned := p.byOrigin[origin]
	switch {
	case pinned && was == provider:
		return false, nil
	case repin:
		return true, nil
	case pinned:
		return false, &PinError{Origin: origin, Provider: provider, PinnedProvider: was}
	case len(p.origins[provider]) > 0:
		return false, &PinError{Origin: origin, Provider: provider, PinnedOrigins: slices.Clone(p.origins[provider])}
	}
	return true, nil
}

// save writes the pins with pin in place of its origin's to the file. p.mu
// must be held.
func (p *Pins) save(pin pinfile.Pin) error {
	all := make([]pinfile.Pin, 0, len(p.byOrigin)+1)
	for o, prov := range p.byOrigin {
		if o != pin.Origin {
			all = append(all, pinfile.Pin{Origin: o, Provider: prov, Price: p.prices[o]})
		}
	}
	b, err := pinfile.Format(append(all, pin))
	if err != nil {
		return err
	}
	return durable.WriteFile(p.path, b, PinsFileMode)
}

// add pins origin, which is not pinned, to provider. p.mu must be held.
func (p *Pins) add(origin, provider string) {
	p.byOrigin[origin] = provider
	list := append(p.origins[provider], origin)
	slices.Sort(list)
	p.origins[provider] = list
}

// remove unpins origin, if pinned. p.mu must be held.
func (p *Pins) remove(origin string) {
	provider, ok := p.byOrigin[origin]
	if !ok {
		return
	}
	delete(p.byOrigin, origin)
	delete(p.prices, origin)
	list := slices.DeleteFunc(p.origins[provider], func(o string) bool { return o == origin })
	if len(list) == 0 {
		delete(p.origins, provider)
	} else {
		p.origins[provider] = list
	}
}
