package provider

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule gives the times of scheduled settlements.
type Schedule interface {
	// Next returns the first settlement time after t.
	Next(t time.Time) time.Time
}

// Every settles at a fixed interval.
type Every time.Duration

// Next implements Schedule.
func (e Every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// Cron parses a billing system's cron expression: five fields (minute hour
// day-of-month month day-of-week) or a descriptor such as "@hourly",
// "@daily" or "@every 15m".
func Cron(expr string) (Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("settlement schedule %q: %w", expr, err)
	}
	return s, nil
}
