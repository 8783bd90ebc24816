package waspchain

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/iotaledger/wasp/clients/apiclient"
	"github.com/iotaledger/wasp/packages/isc"
	"github.com/iotaledger/wasp/packages/parameters"
	"github.com/iotaledger/wasp/packages/webapi/models"
)

// The decoders below read what a node sends; whatever it sends, they must
// not panic, and what they accept must be consistent.

func FuzzReceiptFromAPI(f *testing.F) {
	id := testRequestID()
	f.Add([]byte(`{"request":{"requestId":"` + id.String() + `"},"gasBudget":"1","gasBurned":"2","gasFeeCharged":"3"}`))
	f.Add([]byte(`{"gasBudget":"1","gasBurned":"2","gasFeeCharged":"3","errorMessage":"no","rawError":{"code":"0x1:2","params":["a"]}}`))
	f.Add([]byte(`{"gasBurned":"99999999999999999999"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r apiclient.ReceiptResponse
		if json.Unmarshal(body, &r) != nil {
			return
		}
		rec, vmErr, err := receiptFromAPI(id, &r)
		if err != nil {
			return
		}
		if fee, _ := strconv.ParseUint(r.GasFeeCharged, 10, 64); rec.RequestID != id || rec.GasFee != fee {
			t.Fatalf("decoded %+v from %s", rec, body)
		}
		if r.ErrorMessage != nil && *r.ErrorMessage != "" && vmErr != *r.ErrorMessage {
			t.Fatalf("vm error %q, want %q", vmErr, *r.ErrorMessage)
		}
	})
}

func FuzzEventsFromAPI(f *testing.F) {
	ev := &isc.Event{ContractID: isc.Hn("micropay"), Topic: "t", Timestamp: 5, Payload: []byte{1}}
	good, _ := json.Marshal(models.EventsResponse{Events: []*isc.EventJSON{ev.ToJSONStruct()}})
	f.Add(good)
	f.Add([]byte(`{"events":[{"contractID":1,"payload":"0x0","timestamp":-5,"topic":""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r apiclient.EventsResponse
		if json.Unmarshal(body, &r) != nil {
			return
		}
		events, err := eventsFromAPI(r.Events)
		if err != nil {
			return
		}
		if len(events) != len(r.Events) {
			t.Fatalf("%d events from %d", len(events), len(r.Events))
		}
		for i, e := range events {
			back := e.ToJSONStruct()
			if uint32(back.ContractID) != r.Events[i].ContractID || back.Topic != r.Events[i].Topic || int64(back.Timestamp) != r.Events[i].Timestamp {
				t.Fatalf("event %d: %+v from %+v", i, back, r.Events[i])
			}
		}
	})
}

func FuzzParseAPIError(f *testing.F) {
	f.Add([]byte(`{"Message":"Invalid property: chainID","Error":"bad"}`))
	f.Add([]byte(`{"Message":[1,2],"Error":7}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := parseAPIError(body)
		if !json.Valid(body) && e.Detail != shorten(string(body)) {
			t.Fatalf("%+v from %q: the body that is not JSON becomes the detail", e, body)
		}
		_ = e.Error()
	})
}

func FuzzL1ParamsFromAPI(f *testing.F) {
	good, _ := json.Marshal(models.MapL1Params(parameters.L1ForTesting))
	f.Add(good)
	f.Add([]byte(`{"protocol":{"bech32Hrp":"x","version":-1,"tokenSupply":"1"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var a apiclient.L1Params
		if json.Unmarshal(body, &a) != nil {
			return
		}
		p, err := l1ParamsFromAPI(&a)
		if err != nil {
			return
		}
		if string(p.Protocol.Bech32HRP) != a.Protocol.Bech32Hrp || int32(p.Protocol.Version) != a.Protocol.Version {
			t.Fatalf("%+v from %+v", p.Protocol, a.Protocol)
		}
	})
}
