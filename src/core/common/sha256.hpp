/*
 * sha256.hpp — SHA-256 of a file or a byte range, as lower-case hex (OpenSSL EVP).
 *
 * Used to verify model weights against their metadata before torch::jit::load ever sees
 * them.  Throws europeana::Error (NotFound when the file cannot be opened).
 */
#pragma once

#include "core/common/bytes.hpp"
#include "core/common/no_postgres.hpp"

#include <string>

namespace europeana::core {

std::string Sha256Hex(ByteView bytes);
std::string Sha256FileHex(const std::string &path);

} // namespace europeana::core
