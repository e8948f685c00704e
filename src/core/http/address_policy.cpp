/*
 * address_policy.cpp — classification of IPv4 and IPv6 addresses for the SSRF guard.
 *
 * The tables follow the IANA special-purpose address registries (RFC 6890 and successors).
 * Anything that is not plainly a public unicast address is refused: the cost of refusing
 * an exotic but legitimate image host is one failed download, the cost of allowing an
 * internal one is a request forged from inside the database server's network.
 */
#include "core/http/address_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace europeana::core {

namespace {

struct Ipv4Range {
	uint32_t network;
	int prefix_length;
	const char *reason;
};

constexpr uint32_t
Ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
	return a << 24 | b << 16 | c << 8 | d;
}

/* Checked in order, so the metadata endpoint is named before the link-local range holding it. */
constexpr Ipv4Range kForbiddenIpv4[] = {
    {Ipv4(169, 254, 169, 254), 32, "cloud metadata endpoint"},
    {Ipv4(0, 0, 0, 0), 8, "unspecified address"},
    {Ipv4(10, 0, 0, 0), 8, "private network"},
    {Ipv4(100, 64, 0, 0), 10, "carrier-grade NAT"},
    {Ipv4(127, 0, 0, 0), 8, "loopback"},
    {Ipv4(169, 254, 0, 0), 16, "link-local"},
    {Ipv4(172, 16, 0, 0), 12, "private network"},
    {Ipv4(192, 0, 0, 0), 24, "reserved range"},
    {Ipv4(192, 0, 2, 0), 24, "documentation range"},
    {Ipv4(192, 88, 99, 0), 24, "reserved range"},
    {Ipv4(192, 168, 0, 0), 16, "private network"},
    {Ipv4(198, 18, 0, 0), 15, "benchmarking range"},
    {Ipv4(198, 51, 100, 0), 24, "documentation range"},
    {Ipv4(203, 0, 113, 0), 24, "documentation range"},
    {Ipv4(224, 0, 0, 0), 4, "multicast"},
    {Ipv4(240, 0, 0, 0), 4, "reserved range"}, /* includes 255.255.255.255 broadcast */
};

const char *
Ipv4Reason(uint32_t address) noexcept {
	for (const Ipv4Range &range : kForbiddenIpv4) {
		const uint32_t mask = range.prefix_length == 0 ? 0 : ~uint32_t{0} << (32 - range.prefix_length);
		if ((address & mask) == range.network) {
			return range.reason;
		}
	}
	return nullptr;
}

uint32_t
Be32At(const uint8_t *bytes) noexcept {
	return uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 | uint32_t{bytes[3]};
}

bool
AllZero(const uint8_t *bytes, size_t count) noexcept {
	for (size_t i = 0; i < count; i++) {
		if (bytes[i] != 0) {
			return false;
		}
	}
	return true;
}

/*
 * Ipv6Reason classifies the 16 address bytes.  Forms that embed an IPv4 address which a
 * host or gateway would translate (IPv4-mapped, NAT64, 6to4) are judged by that address.
 */
const char *
Ipv6Reason(const uint8_t *a) noexcept {
	static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	static constexpr uint8_t kNat64Prefix[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};

	if (AllZero(a, 15)) {
		return a[15] == 0 ? "unspecified address" : a[15] == 1 ? "loopback" : "IPv4-compatible address";
	}
	if (std::memcmp(a, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
		return Ipv4Reason(Be32At(a + 12));
	}
	if (AllZero(a, 12)) {
		/* ::a.b.c.d, deprecated IPv4-compatible addresses; nothing legitimate uses them */
		return "IPv4-compatible address";
	}
	if (std::memcmp(a, kNat64Prefix, sizeof(kNat64Prefix)) == 0) {
		return Ipv4Reason(Be32At(a + 12));
	}
	if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B && a[4] == 0x00 && a[5] == 0x01) {
		return "local-use NAT64"; /* 64:ff9b:1::/48 */
	}
	if (a[0] == 0x01 && a[1] == 0x00 && AllZero(a + 2, 6)) {
		return "reserved range"; /* 100::/64 discard-only */
	}
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8) {
		return "documentation range"; /* 2001:db8::/32 */
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		return Ipv4Reason(Be32At(a + 2)); /* 6to4 2002:AABB:CCDD::/48 */
	}
	if ((a[0] & 0xFE) == 0xFC) {
		return "private network"; /* unique local fc00::/7 */
	}
	if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) {
		return "link-local"; /* fe80::/10 */
	}
	if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) {
		return "site-local"; /* fec0::/10, deprecated */
	}
	if (a[0] == 0xFF) {
		return "multicast";
	}
	return nullptr;
}

} // namespace

const char *
ForbiddenAddressReason(const sockaddr *address) noexcept {
	if (address == nullptr) {
		return "no address";
	}
	if (address->sa_family == AF_INET) {
		sockaddr_in in;
		std::memcpy(&in, address, sizeof(in));
		return Ipv4Reason(ntohl(in.sin_addr.s_addr));
	}
	if (address->sa_family == AF_INET6) {
		sockaddr_in6 in6;
		std::memcpy(&in6, address, sizeof(in6));
		uint8_t bytes[16];
		std::memcpy(bytes, &in6.sin6_addr, sizeof(bytes));
		return Ipv6Reason(bytes);
	}
	return "unsupported address family";
}

bool
IsForbiddenAddress(const sockaddr *address) noexcept {
	return ForbiddenAddressReason(address) != nullptr;
}

std::string
FormatAddress(const sockaddr *address) {
	char text[INET6_ADDRSTRLEN] = {0};
	if (address != nullptr && address->sa_family == AF_INET) {
		sockaddr_in in;
		std::memcpy(&in, address, sizeof(in));
		if (inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text)) != nullptr) {
			return text;
		}
	} else if (address != nullptr && address->sa_family == AF_INET6) {
		sockaddr_in6 in6;
		std::memcpy(&in6, address, sizeof(in6));
		if (inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text)) != nullptr) {
			return text;
		}
	}
	return address == nullptr ? "(none)" : "(address family " + std::to_string(address->sa_family) + ")";
}

} // namespace europeana::core
