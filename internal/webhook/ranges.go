package webhook

import (
	"net/netip"
)

// namedPrefix is one refused range and the name reported for it.
type namedPrefix struct {
	prefix netip.Prefix
	name   string
}

func np(cidr, name string) namedPrefix {
	p := netip.MustParsePrefix(cidr)
	return namedPrefix{prefix: p, name: name + " " + p.String()}
}

// refusedV4 lists the refused IPv4 ranges, most specific first: the first
// match names the range.
var refusedV4 = []namedPrefix{
	np("0.0.0.0/32", "unspecified"),
	np("0.0.0.0/8", "this-network"),
	np("10.0.0.0/8", "private"),
	np("100.64.0.0/10", "carrier-grade NAT"),
	np("127.0.0.0/8", "loopback"),
	{netip.MustParsePrefix("169.254.169.254/32"), "link-local 169.254.0.0/16 (cloud metadata service 169.254.169.254)"},
	np("169.254.0.0/16", "link-local"),
	np("172.16.0.0/12", "private"),
	np("192.0.0.0/24", "IETF protocol assignments"),
	np("192.0.2.0/24", "documentation (TEST-NET-1)"),
	np("192.88.99.0/24", "6to4 relay anycast"),
	np("192.168.0.0/16", "private"),
	np("198.18.0.0/15", "benchmarking"),
	np("198.51.100.0/24", "documentation (TEST-NET-2)"),
	np("203.0.113.0/24", "documentation (TEST-NET-3)"),
	np("224.0.0.0/4", "multicast"),
	np("255.255.255.255/32", "broadcast"),
	np("240.0.0.0/4", "reserved"),
}

// refusedV6 lists the refused IPv6 ranges that are not handled by embedding
// rules, most specific first.
var refusedV6 = []namedPrefix{
	np("::/128", "unspecified"),
	np("::1/128", "loopback"),
	np("::/96", "IPv4-compatible (deprecated)"),
	np("64:ff9b:1::/48", "local-use NAT64"),
	np("100::/64", "discard-only"),
	np("2001::/32", "Teredo"),
	np("2001:2::/48", "benchmarking"),
	np("2001:db8::/32", "documentation"),
	np("2001::/23", "IETF protocol assignments"),
	np("3fff::/20", "documentation"),
	np("fc00::/7", "private (unique local)"),
	np("fe80::/10", "link-local"),
	np("fec0::/10", "site-local (deprecated)"),
	np("ff00::/8", "multicast"),
}

var (
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourPrefix = netip.MustParsePrefix("2002::/16")
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	outsideGlobalV6 = "reserved (outside global unicast " + globalUnicastV6.String() + ")"
	invalidAddrName = "invalid address"
	nat64Name       = "NAT64 " + nat64Prefix.String()
	sixToFourName   = "6to4 " + sixToFourPrefix.String()
)

// Refused reports whether ip may not be dialled as a webhook target and, if
// so, the name of the range it is in, such as "private 10.0.0.0/8" or
// "NAT64 64:ff9b::/96 embedding 10.0.0.1: private 10.0.0.0/8".
//
// Refused: everything that is not a globally reachable unicast address.
// IPv4: 0.0.0.0/8 (with 0.0.0.0 as "unspecified"), 10/8, 100.64/10 (CGNAT),
// 127/8, 169.254/16 (with 169.254.169.254 named as the cloud metadata
// service), 172.16/12, 192.0.0/24, the documentation ranges 192.0.2/24,
// 198.51.100/24 and 203.0.113/24, 192.88.99/24 (deprecated 6to4 relay
// anycast), 192.168/16, 198.18/15 (benchmarking), 224/4 (multicast),
// 255.255.255.255 (broadcast) and the rest of 240/4 (reserved).
//
// IPv6: ::, ::1, ::/96 (IPv4-compatible, deprecated), 64:ff9b:1::/48
// (local-use NAT64), 100::/64 (discard), 2001::/23 (IETF protocol
// assignments, including Teredo 2001::/32 and benchmarking 2001:2::/48),
// the documentation ranges 2001:db8::/32 and 3fff::/20, fc00::/7, fe80::/10,
// fec0::/10 (site-local, deprecated), ff00::/8 (multicast), and anything
// outside 2000::/3, the only block IANA allocates for global unicast.
//
// Addresses that carry an IPv4 address are judged by it: an IPv4-mapped
// address (::ffff:10.0.0.1) gives exactly the answer of its IPv4 form, and a
// NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address is refused when the IPv4
// address it embeds is. An IPv6 zone is ignored. The zero Addr is refused.
func Refused(ip netip.Addr) (bool, string) {
	if !ip.IsValid() {
		return true, invalidAddrName
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		return refusedIn(ip, refusedV4)
	}
	if nat64Prefix.Contains(ip) {
		b := ip.As16()
		return refusedEmbedded(netip.AddrFrom4([4]byte(b[12:16])), nat64Name)
	}
	if sixToFourPrefix.Contains(ip) {
		b := ip.As16()
		return refusedEmbedded(netip.AddrFrom4([4]byte(b[2:6])), sixToFourName)
	}
	if refused, name := refusedIn(ip, refusedV6); refused {
		return true, name
	}
	if !globalUnicastV6.Contains(ip) {
		return true, outsideGlobalV6
	}
	return false, ""
}

func refusedIn(ip netip.Addr, ranges []namedPrefix) (bool, string) {
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return true, r.name
		}
	}
	return false, ""
}

func refusedEmbedded(v4 netip.Addr, via string) (bool, string) {
	refused, name := refusedIn(v4, refusedV4)
	if !refused {
		return false, ""
	}
	return true, via + " embedding " + v4.String() + ": " + name
}
