/*
 * sha256.cpp — SHA-256 through OpenSSL's EVP interface.
 */
#include "core/common/sha256.hpp"

#include "core/common/error.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace europeana::core {

namespace {

struct MdCtxDeleter {
	void
	operator()(EVP_MD_CTX *ctx) const noexcept {
		EVP_MD_CTX_free(ctx);
	}
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

struct FileCloser {
	void
	operator()(FILE *f) const noexcept {
		fclose(f);
	}
};

MdCtx
NewSha256() {
	MdCtx ctx(EVP_MD_CTX_new());
	if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
		throw Error(ErrorKind::Internal, "could not initialise SHA-256");
	}
	return ctx;
}

std::string
FinishHex(EVP_MD_CTX *ctx) {
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) {
		throw Error(ErrorKind::Internal, "could not finish SHA-256");
	}
	static const char kHex[] = "0123456789abcdef";
	std::string out(len * 2, '0');
	for (unsigned int i = 0; i < len; i++) {
		out[2 * i] = kHex[digest[i] >> 4];
		out[2 * i + 1] = kHex[digest[i] & 0xF];
	}
	return out;
}

} // namespace

std::string
Sha256Hex(ByteView bytes) {
	MdCtx ctx = NewSha256();
	if (bytes.size > 0 && EVP_DigestUpdate(ctx.get(), bytes.data, bytes.size) != 1) {
		throw Error(ErrorKind::Internal, "could not hash data");
	}
	return FinishHex(ctx.get());
}

std::string
Sha256FileHex(const std::string &path) {
	std::unique_ptr<FILE, FileCloser> file(fopen(path.c_str(), "rb"));
	if (!file) {
		throw Error(ErrorKind::MissingFile, "could not open file \"" + path + "\": " + std::strerror(errno),
		            "Check that the file exists and that the server's user can read it.");
	}
	MdCtx ctx = NewSha256();
	std::vector<unsigned char> buffer(1 << 20);
	size_t n;
	while ((n = fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
		if (EVP_DigestUpdate(ctx.get(), buffer.data(), n) != 1) {
			throw Error(ErrorKind::Internal, "could not hash file \"" + path + "\"");
		}
	}
	if (ferror(file.get())) {
		throw Error(ErrorKind::Corrupt, "could not read file \"" + path + "\"");
	}
	return FinishHex(ctx.get());
}

} // namespace europeana::core
