package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/iotaledger/wasp/packages/isc"
)

// Client calls a devnet's own routes; talk to its Wasp routes with package
// waspchain. The zero HTTPClient means http.DefaultClient.
type Client struct {
	URL        string // the devnet's base URL, e.g. "http://127.0.0.1:9090"
	HTTPClient *http.Client
}

// Fund credits amount base tokens to agent's L2 account.
func (c Client) Fund(ctx context.Context, agent isc.AgentID, amount uint64) error {
	return c.call(ctx, http.MethodPost, "/devnet/faucet", FaucetRequest{AgentID: agent.String(), Amount: Uint64(amount)}, nil)
}

// AdvanceClock moves the devnet's chain time forward by d, rounded up to a
// whole second, and returns once the requests that became due have run.
func (c Client) AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error) {
	secs := (d + time.Second - 1) / time.Second
	var out ClockResponse
	err := c.call(ctx, http.MethodPost, "/devnet/clock/advance", ClockRequest{Seconds: Uint64(secs)}, &out)
	return out.Now, err
}

// Info returns the devnet's chain ID, contract and chain time.
func (c Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.call(ctx, http.MethodGet, "/devnet/info", nil, &out)
	return out, err
}

func (c Client) call(ctx context.Context, method, route string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("devnet %s: %w", route, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+route, body)
	if err != nil {
		return fmt.Errorf("devnet %s: %w", route, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("devnet %s: %w", route, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("devnet %s: %w", route, err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorBody
		if json.Unmarshal(b, &e) != nil {
			return fmt.Errorf("devnet %s: %s", route, resp.Status)
		}
		return fmt.Errorf("devnet %s: %s: %v: %s", route, resp.Status, e.Message, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("devnet %s: decode answer: %w", route, err)
	}
	return nil
}
