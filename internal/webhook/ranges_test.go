package webhook

import (
	"net/netip"
	"strings"
	"testing"
)

// mapped returns v4 as an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
func mapped(v4 netip.Addr) netip.Addr { return netip.AddrFrom16(v4.As16()) }

// nat64 returns v4 embedded in the NAT64 well-known prefix 64:ff9b::/96.
func nat64(v4 netip.Addr) netip.Addr {
	b := [16]byte{0x00, 0x64, 0xff, 0x9b}
	a := v4.As4()
	copy(b[12:], a[:])
	return netip.AddrFrom16(b)
}

// sixToFour returns v4 embedded in a 6to4 address 2002:aabb:ccdd::1.
func sixToFour(v4 netip.Addr) netip.Addr {
	b := [16]byte{0x20, 0x02}
	a := v4.As4()
	copy(b[2:6], a[:])
	b[15] = 1
	return netip.AddrFrom16(b)
}

func TestRefusedIPv4AndEmbeddings(t *testing.T) {
	tests := []struct {
		ip   string
		name string // substring of the range name; "" means allowed
	}{
		{"127.0.0.1", "loopback 127.0.0.0/8"},
		{"127.255.255.254", "loopback"},
		{"10.0.0.1", "private 10.0.0.0/8"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private 172.16.0.0/12"},
		{"172.31.255.255", "private 172.16.0.0/12"},
		{"192.168.1.1", "private 192.168.0.0/16"},
		{"169.254.0.1", "link-local 169.254.0.0/16"},
		{"169.254.169.254", "cloud metadata service"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this-network 0.0.0.0/8"},
		{"255.255.255.255", "broadcast"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"100.64.0.1", "carrier-grade NAT 100.64.0.0/10"},
		{"100.100.100.200", "carrier-grade NAT"}, // Alibaba Cloud metadata
		{"100.127.255.255", "carrier-grade NAT"},
		{"192.0.0.170", "IETF protocol assignments 192.0.0.0/24"},
		{"198.18.0.1", "benchmarking 198.18.0.0/15"},
		{"198.19.255.255", "benchmarking"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"192.88.99.1", "6to4 relay anycast"},
		{"240.0.0.1", "reserved 240.0.0.0/4"},
		{"255.255.255.254", "reserved"},

		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.216.34", ""},
		{"100.63.255.255", ""}, // just below CGNAT
		{"100.128.0.0", ""},    // just above CGNAT
		{"172.15.255.255", ""}, // just below 172.16/12
		{"172.32.0.0", ""},     // just above
		{"169.253.255.255", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"192.0.1.255", ""},
		{"223.255.255.255", ""},
		{"1.0.0.0", ""},
	}
	forms := []struct {
		form string
		conv func(netip.Addr) netip.Addr
	}{
		{"v4", func(a netip.Addr) netip.Addr { return a }},
		{"mapped", mapped},
		{"nat64", nat64},
		{"6to4", sixToFour},
	}
	for _, tt := range tests {
		v4 := netip.MustParseAddr(tt.ip)
		for _, f := range forms {
			ip := f.conv(v4)
			t.Run(f.form+"/"+ip.String(), func(t *testing.T) {
				refused, name := Refused(ip)
				if refused != (tt.name != "") {
					t.Fatalf("Refused(%s) = %v, %q; want refused=%v", ip, refused, name, tt.name != "")
				}
				if !strings.Contains(name, tt.name) {
					t.Errorf("Refused(%s) name = %q; want it to contain %q", ip, name, tt.name)
				}
				if refused && f.form != "v4" && f.form != "mapped" && !strings.Contains(name, v4.String()) {
					t.Errorf("Refused(%s) name = %q; want it to name the embedded %s", ip, name, v4)
				}
			})
		}
	}
}

func TestRefusedMappedAgreesExactly(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "169.254.169.254", "8.8.8.8", "255.255.255.255", "0.0.0.0"} {
		v4 := netip.MustParseAddr(s)
		r1, n1 := Refused(v4)
		r2, n2 := Refused(mapped(v4))
		if r1 != r2 || n1 != n2 {
			t.Errorf("%s: v4 (%v, %q) and mapped (%v, %q) disagree", s, r1, n1, r2, n2)
		}
	}
}

func TestRefusedIPv6(t *testing.T) {
	tests := []struct {
		ip   string
		name string // substring of the range name; "" means allowed
	}{
		{"::1", "loopback ::1/128"},
		{"::", "unspecified"},
		{"fc00::1", "private (unique local) fc00::/7"},
		{"fd12:3456:789a::1", "unique local"},
		{"fd00:ec2::254", "unique local"}, // AWS IPv6 metadata service
		{"fe80::1", "link-local fe80::/10"},
		{"fe80::1%eth0", "link-local"},
		{"febf:ffff::1", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast ff00::/8"},
		{"ff05::1:3", "multicast"},
		{"::10.0.0.1", "IPv4-compatible"},
		{"::8.8.8.8", "IPv4-compatible"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		{"100::1", "discard-only"},
		{"2001::1", "Teredo 2001::/32"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
		{"2001:2::1", "benchmarking 2001:2::/48"},
		{"2001:10::1", "IETF protocol assignments 2001::/23"},
		{"2001:db8::1", "documentation 2001:db8::/32"},
		{"3fff::1", "documentation 3fff::/20"},
		{"5f00::1", "outside global unicast"},
		{"4000::1", "outside global unicast"},
		{"::ffff:0:a00:1", "outside global unicast"}, // IPv4-translated (SIIT)

		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"2606:4700::1111", ""},
		{"2606:4700:4700::1001", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"2001:200::1", ""}, // just past 2001::/23
		{"3ffe:ffff::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			refused, name := Refused(ip)
			if refused != (tt.name != "") {
				t.Fatalf("Refused(%s) = %v, %q; want refused=%v", ip, refused, name, tt.name != "")
			}
			if !strings.Contains(name, tt.name) {
				t.Errorf("Refused(%s) name = %q; want it to contain %q", ip, name, tt.name)
			}
		})
	}
}

func TestRefusedZeroAddr(t *testing.T) {
	if refused, name := Refused(netip.Addr{}); !refused || name == "" {
		t.Errorf("Refused(zero Addr) = %v, %q; want refused with a name", refused, name)
	}
}

func FuzzRefused(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "8.8.8.8", "::1", "64:ff9b::a00:1", "2002:a00:1::1", "fe80::1", "2606:4700::1111"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 16 {
			checkRefusedResult(t, netip.AddrFrom16([16]byte(data[:16])))
		}
		if len(data) >= 4 {
			v4 := netip.AddrFrom4([4]byte(data[:4]))
			r4, n4 := checkRefusedResult(t, v4)
			if rm, nm := checkRefusedResult(t, mapped(v4)); rm != r4 || nm != n4 {
				t.Errorf("%s gives (%v, %q) but its mapped form gives (%v, %q)", v4, r4, n4, rm, nm)
			}
			if rn, _ := checkRefusedResult(t, nat64(v4)); rn != r4 {
				t.Errorf("%s refused=%v but its NAT64 form refused=%v", v4, r4, rn)
			}
			if r6, _ := checkRefusedResult(t, sixToFour(v4)); r6 != r4 {
				t.Errorf("%s refused=%v but its 6to4 form refused=%v", v4, r4, r6)
			}
		}
	})
}

// checkRefusedResult calls Refused and checks that a name comes with, and
// only with, a refusal.
func checkRefusedResult(t *testing.T, ip netip.Addr) (bool, string) {
	t.Helper()
	refused, name := Refused(ip)
	if refused != (name != "") {
		t.Errorf("Refused(%s) = %v, %q: a refusal must come with a name and only a refusal", ip, refused, name)
	}
	return refused, name
}
