package dlr

import (
	"strings"
	"testing"
	"time"
)

func utc(y, mo, d, h, mi, s int) time.Time {
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
}

func TestParseText(t *testing.T) {
	sub, done := utc(2023, 1, 2, 12, 0, 0), utc(2023, 1, 2, 12, 1, 0)
	for _, tc := range []struct {
		name string
		in   string
		want Receipt
	}{
		{
			name: "canonical",
			in:   "id:0123456789 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 text:Your code is 123456",
			want: Receipt{ID: "0123456789", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done, Text: "Your code is 123456"},
		},
		{
			name: "missing sub and dlvrd",
			in:   "id:42 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 text:hi",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1, SubmitDate: sub, DoneDate: done, Text: "hi"},
		},
		{
			name: "12-digit dates",
			in:   "id:42 sub:001 dlvrd:000 submit date:230102120005 done date:231231235959 stat:EXPIRED err:000 text:",
			want: Receipt{ID: "42", State: Expired, Sub: 1, Dlvrd: 0, SubmitDate: utc(2023, 1, 2, 12, 0, 5), DoneDate: utc(2023, 12, 31, 23, 59, 59)},
		},
		{
			name: "14-digit dates",
			in:   "id:42 submit date:20230102120005 done date:20240229000000 stat:DELIVRD",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1, SubmitDate: utc(2023, 1, 2, 12, 0, 5), DoneDate: utc(2024, 2, 29, 0, 0, 0)},
		},
		{
			name: "4-digit err",
			in:   "id:42 sub:001 dlvrd:000 submit date:2301021200 done date:2301021201 stat:UNDELIV err:0034 text:x",
			want: Receipt{ID: "42", State: Undeliverable, Err: 34, Sub: 1, Dlvrd: 0, SubmitDate: sub, DoneDate: done, Text: "x"},
		},
		{
			name: "hex err with 0x",
			in:   "id:42 stat:UNDELIV err:0x0B",
			want: Receipt{ID: "42", State: Undeliverable, Err: 11, Sub: -1, Dlvrd: -1},
		},
		{
			name: "hex err with letters",
			in:   "id:42 stat:UNDELIV err:00B",
			want: Receipt{ID: "42", State: Undeliverable, Err: 11, Sub: -1, Dlvrd: -1},
		},
		{
			name: "unreadable err",
			in:   "id:42 stat:UNDELIV err:n/a",
			want: Receipt{ID: "42", State: Undeliverable, Sub: -1, Dlvrd: -1},
		},
		{
			name: "upper-case keys",
			in:   "ID:42 SUB:001 DLVRD:001 SUBMIT DATE:2301021200 DONE DATE:2301021201 STAT:DELIVRD ERR:000 TEXT:Hello",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done, Text: "Hello"},
		},
		{
			name: "capitalised Text",
			in:   "id:42 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 Text:Your code",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done, Text: "Your code"},
		},
		{
			name: "text containing stat and colons",
			in:   "id:42 sub:001 dlvrd:000 submit date:2301021200 done date:2301021201 stat:UNDELIV err:001 text:stat:DELIVRD id:9 err:5 a:b:c",
			want: Receipt{ID: "42", State: Undeliverable, Err: 1, Sub: 1, Dlvrd: 0, SubmitDate: sub, DoneDate: done, Text: "stat:DELIVRD id:9 err:5 a:b:c"},
		},
		{
			name: "extra spaces",
			in:   "  id: 42   sub:001  dlvrd :001   submit  date:2301021200\tdone date: 2301021201   stat : DELIVRD    err:000   text:  two  spaces ",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done, Text: "  two  spaces "},
		},
		{
			name: "fields reordered",
			in:   "stat:REJECTD err:000 dlvrd:000 done date:2301021201 id:abc123 submit date:2301021200 sub:001 text:x",
			want: Receipt{ID: "abc123", State: Rejected, Sub: 1, Dlvrd: 0, SubmitDate: sub, DoneDate: done, Text: "x"},
		},
		{
			name: "id in hex",
			in:   "id:7f3a9c sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 text:",
			want: Receipt{ID: "7f3a9c", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done},
		},
		{
			name: "id in decimal",
			in:   "id:1234567890 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 text:",
			want: Receipt{ID: "1234567890", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done},
		},
		{
			name: "uuid-like id",
			in:   "id:550e8400-e29b-41d4-a716-446655440000 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000 text:ok",
			want: Receipt{ID: "550e8400-e29b-41d4-a716-446655440000", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done, Text: "ok"},
		},
		{
			name: "id with underscore",
			in:   "id:MSG_2023_0001 stat:ACCEPTD",
			want: Receipt{ID: "MSG_2023_0001", State: Accepted, Sub: -1, Dlvrd: -1},
		},
		{
			name: "stat lowercase",
			in:   "id:42 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:delivrd err:000 text:x",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done, Text: "x"},
		},
		{
			name: "stat full word",
			in:   "id:42 stat:Delivered err:0",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1},
		},
		{
			name: "stat FAILED",
			in:   "id:42 stat:FAILED err:0069",
			want: Receipt{ID: "42", State: Undeliverable, Err: 69, Sub: -1, Dlvrd: -1},
		},
		{
			name: "no text field",
			in:   "id:42 sub:001 dlvrd:001 submit date:2301021200 done date:2301021201 stat:DELIVRD err:000",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1, SubmitDate: sub, DoneDate: done},
		},
		{
			name: "empty err before text",
			in:   "id:42 stat:DELIVRD err: text:hi",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1, Text: "hi"},
		},
		{
			name: "underscored date keys",
			in:   "id:42 submit_date:2301021200 done_date:2301021201 stat:DELIVRD",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1, SubmitDate: sub, DoneDate: done},
		},
		{
			name: "comma separated",
			in:   "id:42,sub:001,dlvrd:001,stat:DELIVRD,err:000",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1},
		},
		{
			name: "unknown field ignored",
			in:   "id:42 sub:001 dlvrd:001 stat:DELIVRD err:000 mccmnc:41601 text:x",
			want: Receipt{ID: "42", State: Delivered, Sub: 1, Dlvrd: 1, Text: "x"},
		},
		{
			name: "repeated key first wins",
			in:   "id:42 stat:DELIVRD id:43 stat:UNDELIV",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1},
		},
		{
			name: "impossible dates left zero",
			in:   "id:42 submit date:2302301200 done date:2313011200 stat:DELIVRD",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1},
		},
		{
			name: "trailing NUL and CRLF",
			in:   "id:42 stat:DELIVRD err:000\r\n\x00",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1},
		},
		{
			name: "arabic text kept",
			in:   "id:42 stat:DELIVRD text:رمزك 1234",
			want: Receipt{ID: "42", State: Delivered, Sub: -1, Dlvrd: -1, Text: "رمزك 1234"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseText(tc.in)
			if err != nil {
				t.Fatalf("ParseText(%q): %v", tc.in, err)
			}
			checkReceipt(t, got, tc.want)
		})
	}
}

func TestParseTextErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want string // in the error
		not  string // not in the error
	}{
		{"empty", "", "empty", ""},
		{"blank", " \t\x00", "empty", ""},
		{"garbage", "hello world, this is not a receipt", "no id and no stat", ""},
		{"no stat", "id:42 sub:001 dlvrd:001 err:000 text:code 123456", "no stat", "123456"},
		{"no id", "sub:001 dlvrd:001 stat:DELIVRD err:000 text:code 123456", "no id", "123456"},
		{"empty id", "id: stat:DELIVRD", "no id", ""},
		{"unknown stat", "id:42 stat:WHATEVER text:code 123456", `stat "WHATEVER"`, "123456"},
		{"stat only in text", "id:42 err:000 text:stat:DELIVRD", "no stat", ""},
		{"id not ascii", "id:４２ stat:DELIVRD", "not printable ASCII", ""},
		{"key glued to value", "xid:42 substat:DELIVRD", "no id and no stat", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseText(tc.in)
			if err == nil {
				t.Fatalf("ParseText(%q) = %+v, want an error", tc.in, got)
			}
			if got != (Receipt{}) {
				t.Errorf("ParseText(%q) = %+v with an error, want zero", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseText(%q) error %q, want it to say %q", tc.in, err, tc.want)
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Errorf("ParseText(%q) error %q quotes the text", tc.in, err)
			}
		})
	}
}

func TestFromTLVs(t *testing.T) {
	for _, tc := range []struct {
		name           string
		id, st, neterr []byte
		want           Receipt
		ok             bool
	}{
		{"id without NUL", []byte("1234567890"), []byte{2}, nil, Receipt{ID: "1234567890", State: Delivered, Sub: -1, Dlvrd: -1}, true},
		{"id with NUL", []byte("7f3a9c\x00"), []byte{5}, nil, Receipt{ID: "7f3a9c", State: Undeliverable, Sub: -1, Dlvrd: -1}, true},
		{"garbage after NUL", []byte("abc\x00def"), []byte{8}, nil, Receipt{ID: "abc", State: Rejected, Sub: -1, Dlvrd: -1}, true},
		{"network error code", []byte("42\x00"), []byte{5}, []byte{3, 0x00, 0x0b}, Receipt{ID: "42", State: Undeliverable, Err: 11, Sub: -1, Dlvrd: -1}, true},
		{"network error code big-endian", []byte("42"), []byte{3}, []byte{1, 0x01, 0x02}, Receipt{ID: "42", State: Expired, Err: 258, Sub: -1, Dlvrd: -1}, true},
		{"short network error code ignored", []byte("42"), []byte{5}, []byte{0x0b}, Receipt{ID: "42", State: Undeliverable, Sub: -1, Dlvrd: -1}, true},
		{"missing state", []byte("42"), nil, nil, Receipt{}, false},
		{"two-byte state", []byte("42"), []byte{0, 2}, nil, Receipt{}, false},
		{"state 0", []byte("42"), []byte{0}, nil, Receipt{}, false},
		{"state 9", []byte("42"), []byte{9}, nil, Receipt{}, false},
		{"missing id", nil, []byte{2}, nil, Receipt{}, false},
		{"only NUL", []byte{0}, []byte{2}, nil, Receipt{}, false},
		{"id with space", []byte("4 2"), []byte{2}, nil, Receipt{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromTLVs(tc.id, tc.st, tc.neterr)
			if ok != tc.ok {
				t.Fatalf("FromTLVs(%q, %v, %v) ok = %v, want %v", tc.id, tc.st, tc.neterr, ok, tc.ok)
			}
			checkReceipt(t, got, tc.want)
		})
	}
}

func checkReceipt(t *testing.T, got, want Receipt) {
	t.Helper()
	if got.ID != want.ID || got.State != want.State || got.Err != want.Err || got.Sub != want.Sub ||
		got.Dlvrd != want.Dlvrd || got.Text != want.Text ||
		!got.SubmitDate.Equal(want.SubmitDate) || !got.DoneDate.Equal(want.DoneDate) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, d := range []time.Time{got.SubmitDate, got.DoneDate} {
		if !d.IsZero() && d.Location() != time.UTC {
			t.Errorf("date %v not in UTC", d)
		}
	}
}
