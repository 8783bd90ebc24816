package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/provider"
	"github.com/micropay/micropay/contract"
)

// Scenario is one simulation, as read from a YAML file. doc.go describes
// every field; Validate fills in the defaults and checks the ranges.
type Scenario struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Seed        int64    `yaml:"seed" json:"seed"`
	Duration    Duration `yaml:"duration" json:"duration"`
	Step        Duration `yaml:"step,omitempty" json:"step"`
	Consumers   int      `yaml:"consumers" json:"consumers"`
	Providers   int      `yaml:"providers" json:"providers"`

	Pieces      Pieces      `yaml:"pieces" json:"pieces"`
	Warrant     Warrant     `yaml:"warrant" json:"warrant"`
	Settlement  Settlement  `yaml:"settlement" json:"settlement"`
	Funding     Funding     `yaml:"funding,omitempty" json:"funding"`
	Revocations Revocations `yaml:"revocations,omitempty" json:"revocations"`
	Downtime    []Downtime  `yaml:"downtime,omitempty" json:"downtime,omitempty"`
	Cheaters    Cheaters    `yaml:"cheaters,omitempty" json:"cheaters"`
}

// Pieces is what consumers buy and how often.
type Pieces struct {
	Interval Duration `yaml:"interval" json:"interval"`
	Jitter   Duration `yaml:"jitter,omitempty" json:"jitter"`
	Price    uint64   `yaml:"price" json:"price"`
}

// Warrant is each consumer's warrant and how it keeps it funded.
type Warrant struct {
	Amount       uint64   `yaml:"amount" json:"amount"`
	CloseTimeout Duration `yaml:"closeTimeout,omitempty" json:"closeTimeout"`
	TopUp        TopUp    `yaml:"topUp,omitempty" json:"topUp"`
}

// TopUp is the consumers' top-up policy: before signing a payment that
// would leave the warrant backing less than Below, a consumer adds Amount,
// at most Max times. Amount 0 disables top-ups.
type TopUp struct {
	Below  uint64 `yaml:"below,omitempty" json:"below"`
	Amount uint64 `yaml:"amount,omitempty" json:"amount"`
	Max    int    `yaml:"max,omitempty" json:"max"`
}

// Settlement is every provider's settlement policy (provider.Config).
type Settlement struct {
	Threshold    uint64   `yaml:"threshold,omitempty" json:"threshold"`
	Schedule     string   `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	Margin       Duration `yaml:"margin,omitempty" json:"margin"`
	PollInterval Duration `yaml:"pollInterval,omitempty" json:"pollInterval"`
	ExposureCap  uint64   `yaml:"exposureCap,omitempty" json:"exposureCap"`
	InfoMaxAge   Duration `yaml:"infoMaxAge,omitempty" json:"infoMaxAge"`
	Batch        int      `yaml:"batch,omitempty" json:"batch"`
}

// Funding is what the simulation's bank gives each party on L2 at the start.
type Funding struct {
	Consumer uint64 `yaml:"consumer,omitempty" json:"consumer"`
	Provider uint64 `yaml:"provider,omitempty" json:"provider"`
}

// Revocations makes a fraction of the consumers revoke their warrant at a
// uniformly drawn time in [From, To] and stop buying.
type Revocations struct {
	Fraction float64  `yaml:"fraction,omitempty" json:"fraction"`
	From     Duration `yaml:"from,omitempty" json:"from"`
	To       Duration `yaml:"to,omitempty" json:"to"`
}

// Downtime takes provider Provider (0-based) down over [From, To): it
// accepts no payment and settles nothing.
type Downtime struct {
	Provider int      `yaml:"provider" json:"provider"`
	From     Duration `yaml:"from" json:"from"`
	To       Duration `yaml:"to" json:"to"`
}

// Cheaters counts the cheating attempts of each kind.
type Cheaters struct {
	Forged        int `yaml:"forged,omitempty" json:"forged"`
	Replayed      int `yaml:"replayed,omitempty" json:"replayed"`
	CrossWarrant  int `yaml:"crossWarrant,omitempty" json:"crossWarrant"`
	Overspending  int `yaml:"overspending,omitempty" json:"overspending"`
	ForeignSettle int `yaml:"foreignSettle,omitempty" json:"foreignSettle"`
}

func (c Cheaters) total() int {
	return c.Forged + c.Replayed + c.CrossWarrant + c.Overspending + c.ForeignSettle
}

// Defaults applied by Validate.
const (
	DefaultStep            = Duration(time.Minute)
	DefaultConsumerFunding = 1_000_000 // beyond the warrant and its top-ups: fees and the revoke deposit
	DefaultProviderFunding = 10_000_000
)

// Load reads and validates a scenario file. A path that does not exist but
// names a built-in scenario ("small", "telecom-day.yaml") loads that one.
func Load(file string) (*Scenario, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if s, berr := Builtin(file); berr == nil {
			return s, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w", file, err)
	}
	return s, nil
}

// Parse decodes and validates a scenario. Unknown fields are errors.
func Parse(data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode scenario: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

//go:embed scenarios/*.yaml
var builtin embed.FS

// Builtins lists the scenarios shipped in sim/scenarios, by file name.
func Builtins() []string {
	entries, _ := builtin.ReadDir("scenarios")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// Builtin loads a shipped scenario by file name, with or without ".yaml".
func Builtin(name string) (*Scenario, error) {
	name = path.Base(name)
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	data, err := builtin.ReadFile("scenarios/" + name)
	if err != nil {
		return nil, fmt.Errorf("sim: no built-in scenario %q (have %s)", name, strings.Join(Builtins(), ", "))
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("sim: built-in %s: %w", name, err)
	}
	return s, nil
}

// Validate fills in defaults and checks that the scenario can run.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, check := range []func(func(string, ...any)){
		s.validateRun, s.validatePieces, s.validateWarrant, s.validateSettlement,
		s.validateFunding, s.validateRevocations, s.validateDowntime, s.validateCheaters,
	} {
		check(bad)
	}
	return errors.Join(errs...)
}

// validateRun checks the name, duration, step and party counts.
func (s *Scenario) validateRun(bad func(string, ...any)) {
	if s.Name == "" {
		bad("name is required")
	}
	if s.Step == 0 {
		s.Step = DefaultStep
	}
	if s.Duration <= 0 {
		bad("duration must be positive")
	}
	if s.Step < Duration(time.Second) {
		bad("step %s is below 1s", s.Step)
	}
	if s.Consumers < 1 {
		bad("consumers must be at least 1")
	}
	if s.Providers < 1 {
		bad("providers must be at least 1")
	}
}

// validatePieces checks what a piece costs and how often one is bought.
func (s *Scenario) validatePieces(bad func(string, ...any)) {
	p := &s.Pieces
	if p.Interval <= 0 {
		bad("pieces.interval must be positive")
	}
	if p.Jitter < 0 || p.Jitter >= p.Interval {
		bad("pieces.jitter must be in [0, interval)")
	}
	if p.Price == 0 {
		bad("pieces.price must be positive")
	}
}

// validateWarrant checks the warrant and its top-ups against the contract's bounds.
func (s *Scenario) validateWarrant(bad func(string, ...any)) {
	w := &s.Warrant
	if w.Amount < contract.MinWarrant {
		bad("warrant.amount %d is below the contract's minimum new warrant %d", w.Amount, contract.MinWarrant)
	}
	if w.CloseTimeout == 0 {
		w.CloseTimeout = Duration(time.Duration(contract.DefaultCloseTimeout) * time.Second)
	}
	if ct := time.Duration(w.CloseTimeout); ct%time.Second != 0 ||
		uint64(ct/time.Second) < contract.MinCloseTimeout || uint64(ct/time.Second) > contract.MaxCloseTimeout {
		bad("warrant.closeTimeout %s must be whole seconds within the contract's bounds [%ds, %ds]",
			w.CloseTimeout, contract.MinCloseTimeout, contract.MaxCloseTimeout)
	}
	if w.TopUp.Amount > 0 && w.TopUp.Max == 0 {
		w.TopUp.Max = math.MaxInt32
	}
	if w.TopUp.Amount == 0 && (w.TopUp.Below > 0 || w.TopUp.Max > 0) {
		bad("warrant.topUp needs an amount")
	}
}

// validateSettlement checks the providers' settlement policy against the warrant and the step.
func (s *Scenario) validateSettlement(bad func(string, ...any)) {
	p, w := &s.Pieces, &s.Warrant
	st := &s.Settlement
	if st.Margin == 0 {
		st.Margin = Duration(10 * time.Minute)
	}
	if st.PollInterval == 0 {
		st.PollInterval = Duration(5 * time.Minute)
	}
	if st.PollInterval >= st.Margin {
		bad("settlement.pollInterval %s must be below the margin %s", st.PollInterval, st.Margin)
	}
	if st.Margin >= w.CloseTimeout {
		bad("settlement.margin %s must be below warrant.closeTimeout %s", st.Margin, w.CloseTimeout)
	}
	if _, err := s.schedule(); err != nil {
		bad("settlement.schedule: %v", err)
	}
	if st.Batch < 0 || st.Batch > contract.MaxSettlementsPerRequest {
		bad("settlement.batch %d must be within 0..%d", st.Batch, contract.MaxSettlementsPerRequest)
	}
	if st.ExposureCap > 0 && st.ExposureCap < p.Price {
		bad("settlement.exposureCap %d is below one piece", st.ExposureCap)
	}
	if s.Step >= st.Margin {
		// Providers act once a step: a coarser clock than the margin would
		// let deadlines pass that a provider would have met.
		bad("step %s must be below settlement.margin %s", s.Step, st.Margin)
	}
}

// validateFunding fills in and checks what each party is funded with.
func (s *Scenario) validateFunding(bad func(string, ...any)) {
	p, w := &s.Pieces, &s.Warrant
	f := &s.Funding
	if f.Consumer == 0 {
		topUps := uint64(0)
		if w.TopUp.Amount > 0 {
			// Enough for what a consumer can buy in the run, not for an
			// unbounded Max.
			pieces := uint64(time.Duration(s.Duration)/time.Duration(max(p.Interval-p.Jitter, 1))) + 1
			need := pieces*p.Price + w.TopUp.Below
			n := uint64(0)
			if need > w.Amount {
				n = (need-w.Amount)/w.TopUp.Amount + 1
			}
			topUps = min(n, uint64(w.TopUp.Max)) * w.TopUp.Amount
		}
		f.Consumer = w.Amount + topUps + DefaultConsumerFunding
	}
	if f.Provider == 0 {
		f.Provider = DefaultProviderFunding
	}
	if f.Consumer < w.Amount+chain.DefaultRevokeDeposit {
		bad("funding.consumer %d does not cover the warrant and a revoke deposit", f.Consumer)
	}
}

// validateRevocations checks the revocation window.
func (s *Scenario) validateRevocations(bad func(string, ...any)) {
	r := &s.Revocations
	if r.Fraction < 0 || r.Fraction > 1 {
		bad("revocations.fraction must be in [0, 1]")
	}
	if r.Fraction > 0 {
		if r.To == 0 {
			r.To = s.Duration
		}
		if r.From < 0 || r.From > r.To || r.To > s.Duration {
			bad("revocations window [%s, %s] must lie within [0, duration]", r.From, r.To)
		}
	}
}

// validateDowntime checks the providers' downtime windows.
func (s *Scenario) validateDowntime(bad func(string, ...any)) {
	for i, d := range s.Downtime {
		if d.Provider < 0 || d.Provider >= s.Providers {
			bad("downtime[%d].provider %d is not in [0, %d)", i, d.Provider, s.Providers)
		}
		if d.From < 0 || d.To <= d.From || d.To > s.Duration {
			bad("downtime[%d] [%s, %s) must be a non-empty window within [0, duration]", i, d.From, d.To)
		}
	}
}

// validateCheaters checks the cheaters' counts.
func (s *Scenario) validateCheaters(bad func(string, ...any)) {
	p := &s.Pieces
	c := s.Cheaters
	if c.Forged < 0 || c.Replayed < 0 || c.CrossWarrant < 0 || c.Overspending < 0 || c.ForeignSettle < 0 {
		bad("cheaters counts must not be negative")
	}
	if c.ForeignSettle > 0 && s.Providers < 2 {
		bad("cheaters.foreignSettle needs at least 2 providers")
	}
	if c.total() > 0 && s.Duration < 4*p.Interval {
		bad("cheaters need a duration of at least 4 piece intervals")
	}
}

// schedule returns the provider settlement schedule: a Go duration means
// provider.Every, anything else is a cron expression (provider.Cron).
func (s *Scenario) schedule() (provider.Schedule, error) {
	expr := strings.TrimSpace(s.Settlement.Schedule)
	if expr == "" {
		return nil, nil
	}
	if d, err := ParseDuration(expr); err == nil {
		if d <= 0 {
			return nil, fmt.Errorf("interval %s must be positive", d)
		}
		return provider.Every(d), nil
	}
	return provider.Cron(expr)
}

// Duration is a time.Duration written as in Go ("90s", "1h30m") or in days
// ("2d"). In JSON it is that string.
type Duration time.Duration

// ParseDuration parses a Go duration or a whole number of days ("3d").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return Duration(d), nil
}

// String formats d without zero trailing units: "24h", "1h30m", "1m30s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText implements encoding.TextMarshaler (JSON uses it).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
