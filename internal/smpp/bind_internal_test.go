package smpp

import (
	"testing"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// A generic_nack for a pending submit ends it with the nack's status (or an
// unknown error when the SMSC gave none); one for no pending submit is ignored.
func TestGenericNackEndsPendingSubmit(t *testing.T) {
	c, err := New(Config{Name: "t", Addr: "127.0.0.1:1", SystemID: "x", SourceTON: -1, SourceNPI: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := c.binds[0]
	for _, tt := range []struct {
		status data.CommandStatusType
		want   data.CommandStatusType
	}{
		{data.ESME_RINVCMDLEN, data.ESME_RINVCMDLEN},
		{data.ESME_ROK, data.ESME_RUNKNOWNERR},
	} {
		ch := make(chan *pdu.SubmitSMResp, 1)
		b.pending[77] = ch
		nack := pdu.NewGenericNack().(*pdu.GenericNack)
		nack.SequenceNumber, nack.CommandStatus = 77, tt.status
		if resp, closeBind := b.onPDU(nack, newSessionRef()); resp != nil || closeBind {
			t.Fatalf("onPDU(generic_nack) answered %v, close %v", resp, closeBind)
		}
		got := <-ch
		if got.CommandStatus != tt.want {
			t.Errorf("nack status %v: submit ended with %v, want %v", tt.status, got.CommandStatus, tt.want)
		}
		if _, still := b.pending[77]; still {
			t.Error("the submit is still pending")
		}
	}
	stray := pdu.NewGenericNack().(*pdu.GenericNack)
	stray.SequenceNumber = 12345
	if resp, _ := b.onPDU(stray, newSessionRef()); resp != nil {
		t.Errorf("a stray generic_nack was answered: %v", resp)
	}
}
