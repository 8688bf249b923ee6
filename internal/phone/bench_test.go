package phone

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// benchInputs returns n distinct Jordanian mobile numbers in the spellings
// users type.
func benchInputs(n int) []string {
	out := make([]string, n)
	for i := range out {
		sub := i % 10_000_000
		switch i % 4 {
		case 0:
			out[i] = fmt.Sprintf("079%07d", sub)
		case 1:
			out[i] = fmt.Sprintf("+962 77 %03d %04d", sub/10000, sub%10000)
		case 2:
			out[i] = fmt.Sprintf("00962 78%07d", sub)
		case 3:
			s := []rune(fmt.Sprintf("079%07d", sub))
			for j := range s {
				s[j] += '\u0660' - '0' // Arabic-Indic
			}
			out[i] = string(s)
		}
	}
	return out
}

func BenchmarkParseSMS(b *testing.B) {
	// cold: every input is new to the cache, so each call does the full
	// libphonenumber parse plus a cache insert.
	b.Run("cold", func(b *testing.B) {
		p := MustParser(b, "JO")
		inputs := benchInputs(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := p.ParseSMS(inputs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// cached: a working set of 1,000 numbers, all already parsed.
	b.Run("cached", func(b *testing.B) {
		p := MustParser(b, "JO")
		inputs := benchInputs(1000)
		for _, in := range inputs {
			if _, err := p.ParseSMS(in); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := p.ParseSMS(inputs[i%len(inputs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		p := MustParser(b, "JO")
		inputs := benchInputs(1000)
		for _, in := range inputs {
			if _, err := p.ParseSMS(in); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := p.ParseSMS(inputs[i%len(inputs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run("cold-parallel", func(b *testing.B) {
		p := MustParser(b, "JO")
		inputs := benchInputs(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		var next atomicCounter
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.ParseSMS(inputs[next.inc()%len(inputs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	// cached-error: the same rejected input again and again (an attacker
	// replaying garbage); errors are cached too.
	b.Run("cached-error", func(b *testing.B) {
		p := MustParser(b, "JO")
		b.ReportAllocs()
		for range b.N {
			if _, err := p.ParseSMS("06 461 2345"); err == nil {
				b.Fatal("no error")
			}
		}
	})
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) inc() int { return int(c.n.Add(1) - 1) }
