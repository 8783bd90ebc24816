package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/micropay/micropay/client/chain"
	"github.com/micropay/micropay/client/consumer"
)

func TestConsumerWarrantLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.consumer

	balance, err := c.Balance(ctx)
	require.NoError(t, err)
	require.EqualValues(t, payerFunds, balance)

	// A top-up needs a warrant: nothing is sent without one.
	_, err = c.TopUp(ctx, e.provider, 5_000)
	require.ErrorIs(t, err, consumer.ErrNoWarrant)
	after, err := c.Balance(ctx)
	require.NoError(t, err)
	require.Equal(t, balance, after, "not even a gas fee")

	// A new warrant registers the key in the same request.
	rec, err := c.AddWarrant(ctx, e.provider, 1_000_000, 10*time.Minute)
	require.NoError(t, err)
	require.Contains(t, topics(rec), "micropay.warrantAdded")
	pk, err := e.chain.PublicKey(ctx, c.Agent())
	require.NoError(t, err)
	require.Equal(t, e.payerKey.GetPublicKey().AsBytes(), pk)
	info, err := c.Info(ctx, e.provider)
	require.NoError(t, err)
	require.Equal(t, chain.WarrantInfo{Exists: true, Epoch: 1, Balance: 1_000_000, CloseTimeout: 600}, info)

	_, err = c.TopUp(ctx, e.provider, 5_000)
	require.NoError(t, err)
	_, err = c.AddWarrant(ctx, e.provider, 5_000, 10*time.Minute)
	require.NoError(t, err, "the same close timeout is a top-up")
	_, err = c.AddWarrant(ctx, e.provider, 5_000, time.Hour)
	require.True(t, chain.IsRejected(err), "the close timeout is fixed: %v", err)
	require.ErrorContains(t, err, "add warrant of 5000 for "+e.provider.String())
	_, err = c.AddWarrant(ctx, e.provider, 5_000, -time.Second)
	require.ErrorContains(t, err, "negative close timeout")
	require.EqualValues(t, 1_010_000, e.info(t).Balance)

	// Revoke: settlement stays open until the deadline, in chain time.
	now, err := e.chain.Now(ctx)
	require.NoError(t, err)
	_, err = c.Revoke(ctx, e.provider)
	require.NoError(t, err)
	info = e.info(t)
	require.True(t, info.Revoked())
	require.InDelta(t, now.Unix()+600, int64(info.Deadline), 5)
	_, err = c.TopUp(ctx, e.provider, 5_000)
	require.True(t, chain.IsRejected(err), "no top-up while revoked: %v", err)
	_, err = c.Close(ctx, e.provider)
	require.True(t, chain.IsRejected(err), "the payer cannot close before the deadline: %v", err)
	require.ErrorContains(t, err, "close warrant for "+e.provider.String())

	// The scheduled close at the deadline is the contract's (chaintest's
	// ScheduledCloseAfterDeadline); moving Solo's clock races inside Solo
	// under -race, so it is not repeated here.
}

func TestConsumerRegisterKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.consumer.RegisterKey(ctx)
	require.NoError(t, err)
	pk, err := e.chain.PublicKey(ctx, e.consumer.Agent())
	require.NoError(t, err)
	require.Equal(t, e.payerKey.GetPublicKey().AsBytes(), pk)
	// With the key registered, AddWarrant does not send it again.
	_, err = e.consumer.AddWarrant(ctx, e.provider, 1_000_000, 0)
	require.NoError(t, err)
	require.EqualValues(t, 3600, e.info(t).CloseTimeout, "the contract's default")
}

func topics(rec *chain.Receipt) []string {
	var out []string
	for _, ev := range rec.Events {
		out = append(out, ev.Topic)
	}
	return out
}
