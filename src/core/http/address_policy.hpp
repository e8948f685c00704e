/*
 * address_policy.hpp — which network addresses a media download may connect to.
 *
 * Media URLs come from third-party metadata, so a URL (or a redirect it leads to) can name
 * a host that resolves to the database server itself, a private network or a cloud
 * metadata endpoint (server-side request forgery).  The fetcher checks every socket
 * address it is about to connect to, after DNS resolution and on every redirect hop,
 * against ForbiddenAddressReason; checking the host name before resolution would be
 * defeated by DNS rebinding.
 *
 * Pure functions over a sockaddr: no allocation except FormatAddress, no system calls, safe
 * on any thread.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <string>

struct sockaddr;

namespace europeana::core {

struct AddressPolicy {
	/*
	 * When false (the default) the fetcher refuses every address for which IsForbiddenAddress
	 * is true: loopback (127/8, ::1), private networks (10/8, 172.16/12, 192.168/16, IPv6
	 * unique local fc00::/7), link-local (169.254/16, fe80::/10) including the cloud metadata
	 * endpoint 169.254.169.254, carrier-grade NAT (100.64/10), unspecified (0/8, ::), multicast,
	 * reserved and documentation ranges, and IPv6 forms that embed such an IPv4 address
	 * (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16).  True only for tests
	 * and closed deployments whose image hosts live on a private network.
	 */
	bool allow_private = false;
};

/*
 * Returns why a connection to `address` is refused ("loopback", "private network",
 * "link-local", "cloud metadata endpoint", "carrier-grade NAT", "unspecified address",
 * "multicast", "reserved range", ...), or nullptr for a public unicast address.  Families
 * other than AF_INET and AF_INET6, and a null pointer, are refused.
 */
const char *ForbiddenAddressReason(const sockaddr *address) noexcept;

/* True when ForbiddenAddressReason names a reason. */
bool IsForbiddenAddress(const sockaddr *address) noexcept;

/* The numeric form of the address ("127.0.0.1", "fe80::1"), without the port. */
std::string FormatAddress(const sockaddr *address);

} // namespace europeana::core
