package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-linear latency histogram in nanoseconds: values below
// 256ns are kept exactly, larger ones in 128 buckets per power of two, so a
// reported quantile (its bucket's midpoint) is within 0.4% of the true value.
// Values above 2^36ns (about 69s) share the last bucket; max is exact.
//
// Each worker records into its own histogram; they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	histSubBits  = 7 // 128 sub-buckets per power of two
	histMaxShift = 28
	histBuckets  = (histMaxShift + 2) << histSubBits
)

func bucketOf(v uint64) int {
	if v < 2<<histSubBits {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	if shift > histMaxShift {
		return histBuckets - 1
	}
	return shift<<histSubBits + int(v>>shift)
}

// bucketMid returns the middle of bucket i's value range.
func bucketMid(i int) uint64 {
	if i < 2<<histSubBits {
		return uint64(i)
	}
	shift := i>>histSubBits - 1
	lower := uint64(i-shift<<histSubBits) << shift
	return lower + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1), or 0 when the
// histogram is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			return min(time.Duration(bucketMid(i)), h.max)
		}
	}
	return h.max
}
