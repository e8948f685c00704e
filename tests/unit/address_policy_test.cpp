/*
 * address_policy_test.cpp — unit tests for the SSRF address classification.
 *
 * The fetcher's tests can only reach loopback servers, so the public/private split is
 * checked here directly over a table of literal addresses.
 */
#include "core/http/address_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace europeana::core {
namespace {

/* A sockaddr_in or sockaddr_in6 for a literal address; fails the test when it does not parse. */
sockaddr_storage
Parse(const std::string &text) {
	sockaddr_storage storage;
	std::memset(&storage, 0, sizeof(storage));
	auto *in = reinterpret_cast<sockaddr_in *>(&storage);
	if (inet_pton(AF_INET, text.c_str(), &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(80);
		return storage;
	}
	auto *in6 = reinterpret_cast<sockaddr_in6 *>(&storage);
	if (inet_pton(AF_INET6, text.c_str(), &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(443);
		return storage;
	}
	ADD_FAILURE() << "not an address literal: " << text;
	return storage;
}

const sockaddr *
AsSockaddr(const sockaddr_storage &storage) {
	return reinterpret_cast<const sockaddr *>(&storage);
}

struct Case {
	const char *address;
	const char *reason; /* nullptr: allowed */
};

TEST(AddressPolicyTest, ClassifiesAddresses) {
	const Case cases[] = {
	    /* the required table */
	    {"127.0.0.1", "loopback"},
	    {"10.1.2.3", "private network"},
	    {"172.16.0.1", "private network"},
	    {"192.168.1.1", "private network"},
	    {"169.254.169.254", "cloud metadata endpoint"},
	    {"100.64.0.1", "carrier-grade NAT"},
	    {"0.0.0.0", "unspecified address"},
	    {"::1", "loopback"},
	    {"fe80::1", "link-local"},
	    {"fc00::1", "private network"},
	    {"::ffff:127.0.0.1", "loopback"},
	    {"8.8.8.8", nullptr},
	    {"2001:4860:4860::8888", nullptr},
	    {"93.184.216.34", nullptr},
	    /* range edges */
	    {"127.255.255.255", "loopback"},
	    {"9.255.255.255", nullptr},
	    {"11.0.0.0", nullptr},
	    {"172.15.255.255", nullptr},
	    {"172.31.255.255", "private network"},
	    {"172.32.0.0", nullptr},
	    {"192.167.255.255", nullptr},
	    {"192.169.0.0", nullptr},
	    {"100.63.255.255", nullptr},
	    {"100.127.255.255", "carrier-grade NAT"},
	    {"100.128.0.0", nullptr},
	    {"169.254.0.1", "link-local"},
	    {"169.255.0.1", nullptr},
	    {"0.1.2.3", "unspecified address"},
	    /* other special-purpose IPv4 */
	    {"224.0.0.1", "multicast"},
	    {"239.255.255.250", "multicast"},
	    {"255.255.255.255", "reserved range"},
	    {"240.0.0.1", "reserved range"},
	    {"192.0.2.10", "documentation range"},
	    {"198.18.0.1", "benchmarking range"},
	    {"198.19.255.255", "benchmarking range"},
	    {"198.20.0.0", nullptr},
	    /* IPv6 */
	    {"::", "unspecified address"},
	    {"::ffff:10.0.0.1", "private network"},
	    {"::ffff:169.254.169.254", "cloud metadata endpoint"},
	    {"::ffff:8.8.8.8", nullptr},
	    {"::127.0.0.1", "IPv4-compatible address"},
	    {"64:ff9b::7f00:1", "loopback"},
	    {"64:ff9b::808:808", nullptr},
	    {"2002:c0a8:0101::1", "private network"},
	    {"2002:0808:0808::1", nullptr},
	    {"fd00:ec2::254", "private network"},
	    {"fdff:ffff::1", "private network"},
	    {"febf::1", "link-local"},
	    {"fec0::1", "site-local"},
	    {"ff02::1", "multicast"},
	    {"2001:db8::1", "documentation range"},
	    {"2a00:1450:4001:80b::200e", nullptr},
	};
	for (const Case &c : cases) {
		const sockaddr_storage storage = Parse(c.address);
		const char *reason = ForbiddenAddressReason(AsSockaddr(storage));
		if (c.reason == nullptr) {
			EXPECT_EQ(reason, nullptr) << c.address << " refused as " << reason;
			EXPECT_FALSE(IsForbiddenAddress(AsSockaddr(storage))) << c.address;
		} else {
			ASSERT_NE(reason, nullptr) << c.address << " allowed";
			EXPECT_STREQ(reason, c.reason) << c.address;
			EXPECT_TRUE(IsForbiddenAddress(AsSockaddr(storage))) << c.address;
		}
	}
}

TEST(AddressPolicyTest, RefusesOtherFamiliesAndNull) {
	sockaddr_un un;
	std::memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	EXPECT_TRUE(IsForbiddenAddress(reinterpret_cast<const sockaddr *>(&un)));
	EXPECT_STREQ(ForbiddenAddressReason(reinterpret_cast<const sockaddr *>(&un)), "unsupported address family");
	EXPECT_TRUE(IsForbiddenAddress(nullptr));
}

TEST(AddressPolicyTest, FormatsAddresses) {
	EXPECT_EQ(FormatAddress(AsSockaddr(Parse("127.0.0.1"))), "127.0.0.1");
	EXPECT_EQ(FormatAddress(AsSockaddr(Parse("FE80::0:1"))), "fe80::1");
	EXPECT_EQ(FormatAddress(AsSockaddr(Parse("::ffff:10.0.0.1"))), "::ffff:10.0.0.1");
	EXPECT_EQ(FormatAddress(nullptr), "(none)");
}

TEST(AddressPolicyTest, DefaultPolicyRefusesPrivateAddresses) {
	AddressPolicy policy;
	EXPECT_FALSE(policy.allow_private);
}

} // namespace
} // namespace europeana::core
