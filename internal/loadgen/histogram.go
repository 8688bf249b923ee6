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
// Buckets are allocated a power of two at a time, on first use: latencies
// usually span a few powers of two, so a worker's histogram stays a few KB
// and thousands of workers can each have one.
type histogram struct {
	octaves [histOctaves]*[histSub]uint64
	n       uint64
	max     time.Duration
}

const (
	histSubBits  = 7
	histSub      = 1 << histSubBits // buckets per power of two
	histMaxShift = 28
	histOctaves  = histMaxShift + 2
	histBuckets  = histOctaves * histSub
)

// bucketOf maps a value to its bucket index: the value itself below 256, else
// shift*128 + the top 8 bits of v, where shift drops the lower bits.
func bucketOf(v uint64) int {
	if v < 2*histSub {
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
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i>>histSubBits - 1
	lower := uint64(i-shift<<histSubBits) << shift
	return lower + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	i := bucketOf(uint64(d))
	o := h.octaves[i>>histSubBits]
	if o == nil {
		o = new([histSub]uint64)
		h.octaves[i>>histSubBits] = o
	}
	o[i&(histSub-1)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(from *histogram) {
	for k, src := range from.octaves {
		if src == nil {
			continue
		}
		dst := h.octaves[k]
		if dst == nil {
			dst = new([histSub]uint64)
			h.octaves[k] = dst
		}
		for j, c := range src {
			dst[j] += c
		}
	}
	h.n += from.n
	h.max = max(h.max, from.max)
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
	for k, o := range h.octaves {
		if o == nil {
			continue
		}
		for j, c := range o {
			if cum += c; cum >= rank {
				return min(time.Duration(bucketMid(k<<histSubBits+j)), h.max)
			}
		}
	}
	return h.max
}
