/*
 * media.cpp — stand-in provider hosts (/media/<host>/<path>?<query>, the /redirect/ hops and the /files/ end
 * point) with per-record media faults, and the Thumbnail API v2 and v3 (§9).
 *
 * Runs on httplib worker threads.  Streaming answers (huge TIFFs, stalled bodies) use content providers that own
 * copies of what they send and stop as soon as the client goes away or the server stops.
 */
#include "blobs.hpp"
#include "server.hpp"
#include "util.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

namespace europeana::fake {

namespace {

using nlohmann::ordered_json;

constexpr size_t kStreamChunk = 64 * 1024;
constexpr int kRedirectStatuses[] = {302, 301, 307, 308};

const std::string &
Zeros() {
	static const std::string kZeros(kStreamChunk, '\0');
	return kZeros;
}

std::string
Origin(const httplib::Request &req, const std::string &fallback) {
	std::string host = req.get_header_value("Host");
	return host.empty() ? fallback : "http://" + host;
}

void
Redirect(httplib::Response &res, int status, const std::string &location) {
	res.status = status;
	res.set_header("Location", location);
	res.set_content(HtmlPage("Moved", "<a href=\"" + location + "\">here</a>"), "text/html; charset=utf-8");
}

/* NextHop is where a resource with `remaining` redirects still to go sends the client. */
std::string
NextHop(int remaining, const std::string &id) {
	return remaining > 0 ? "/redirect/" + std::to_string(remaining) + id : "/files" + id;
}

void
HtmlStatus(httplib::Response &res, int status, const std::string &title, const std::string &text) {
	res.status = status;
	res.set_content(HtmlPage(title, text), "text/html; charset=utf-8");
}

} // namespace

ordered_json
CommonsError(int status, const std::string &error, const std::string &message, const std::string &path) {
	ordered_json body;
	body["success"] = false;
	body["status"] = status;
	body["error"] = error;
	body["message"] = message;
	body["timestamp"] = IsoTimeMs(
	    std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
	        .count());
	body["path"] = path;
	return body;
}

std::string
Server::MediaKindFor(const Record &record, const FaultConfig &config) const {
	std::vector<std::string> members;
	for (const Record *member : dataset_.MediaGroup(record)) {
		members.push_back(member->id);
	}
	return config.media.KindFor(record.media_owner, members);
}

void
Server::ServeImage(const Record &record, httplib::Response &res, const char *content_type) {
	res.status = 200;
	res.set_header("Last-Modified", HttpDate(record.created_ms / 1000));
	res.set_content(dataset_.ReadImage(record.image_index), content_type);
}

void
Server::HandleMedia(const httplib::Request &req, httplib::Response &res) {
	std::string target = req.target;
	const std::string kPrefix = "/media/";
	std::string key = StartsWith(target, kPrefix) ? target.substr(kPrefix.size()) : target;
	const Record *record = dataset_.FindByMediaKey(key);
	if (record == nullptr) {
		size_t landing = key.find("/__landing/");
		if (landing != std::string::npos) {
			Count("landing");
			const Record *landed = dataset_.FindById(key.substr(landing + 10));
			if (landed != nullptr) {
				HtmlStatus(res, 200, landed->title,
				           "Object " + landed->id + " in the collection of " + landed->data_provider + ".");
				return;
			}
		}
		Count("media");
		CountFault("media", "unknown");
		HtmlStatus(res, 404, "404 Not Found", "The requested URL was not found on this server.");
		return;
	}
	Count("media");
	FaultConfig config = Config();
	std::string kind = MediaKindFor(*record, config);
	CountFault("media", kind);
	SetFaultNote(kind);
	SleepInterruptible(config.media_latency_ms);
	std::string origin = Origin(req, urls_.api_base);

	if (StartsWith(kind, "redirect")) {
		int hops = kind.back() - '0';
		Redirect(res, kRedirectStatuses[hops % 4], origin + NextHop(hops - 1, record->media_owner));
	} else if (kind == "slow") {
		SleepInterruptible(config.slow_ms);
		ServeImage(*record, res, "image/jpeg");
	} else if (kind == "stall") {
		auto bytes = std::make_shared<std::string>(dataset_.ReadImage(record->image_index));
		size_t half = bytes->size() / 2;
		int64_t stall_ms = config.slow_ms;
		res.set_content_provider(bytes->size(), "image/jpeg",
		                         [bytes, half, stall_ms](size_t offset, size_t, httplib::DataSink &sink) {
			                         if (offset < half) {
				                         return sink.write(bytes->data() + offset, half - offset);
			                         }
			                         if (offset == half && !SleepInterruptible(stall_ms)) {
				                         return false;
			                         }
			                         return sink.write(bytes->data() + offset, bytes->size() - offset);
		                         });
	} else if (kind == "ctype_html") {
		ServeImage(*record, res, "text/html; charset=utf-8");
	} else if (kind == "ctype_octet") {
		ServeImage(*record, res, "application/octet-stream");
	} else if (kind == "html200") {
		HtmlStatus(res, 200, "Image not available", "The image you requested could not be found.");
	} else if (kind == "pdf") {
		res.status = 200;
		res.set_content(MinimalPdf(), "image/jpeg");
	} else if (kind == "404") {
		HtmlStatus(res, 404, "404 Not Found", "The requested URL was not found on this server.");
	} else if (kind == "410") {
		HtmlStatus(res, 410, "410 Gone", "The requested resource is no longer available.");
	} else if (kind == "500") {
		HtmlStatus(res, 500, "500 Internal Server Error", "The server encountered an internal error.");
	} else if (kind == "truncated") {
		SetTruncatedBody(res, dataset_.ReadImage(record->image_index), "image/jpeg");
	} else if (kind == "huge_tiff" || kind == "huge_chunked") {
		auto header = std::make_shared<std::string>(TiffHeader(30000, 30000));
		uint64_t total = uint64_t(config.huge_bytes);
		auto provider = [header, total](size_t offset, httplib::DataSink &sink) {
			if (StopRequested() || offset >= total) {
				return false;
			}
			if (offset < header->size()) {
				return sink.write(header->data() + offset, header->size() - offset);
			}
			size_t chunk = size_t(std::min<uint64_t>(kStreamChunk, total - offset));
			return sink.write(Zeros().data(), chunk);
		};
		if (kind == "huge_tiff") {
			res.set_content_provider(
			    size_t(total), "image/tiff",
			    [provider](size_t offset, size_t, httplib::DataSink &sink) { return provider(offset, sink); });
		} else {
			/* No Content-Length: the body streams until the client gives up (capped at 4 GiB). */
			auto sent = std::make_shared<uint64_t>(0);
			res.set_chunked_content_provider("image/tiff", [header, sent](size_t, httplib::DataSink &sink) {
				constexpr uint64_t kCap = 4ULL << 30;
				if (StopRequested() || *sent >= kCap) {
					sink.done();
					return true;
				}
				bool ok =
				    *sent == 0 ? sink.write(header->data(), header->size()) : sink.write(Zeros().data(), kStreamChunk);
				*sent += *sent == 0 ? header->size() : kStreamChunk;
				return ok;
			});
		}
	} else if (kind == "placeholder") {
		res.status = 200;
		res.set_content(PlaceholderPng("IMAGE"), "image/png");
	} else {
		ServeImage(*record, res, "image/jpeg");
	}
}

void
Server::HandleRedirect(const httplib::Request &req, httplib::Response &res) {
	Count("redirect");
	int remaining = std::stoi(std::string(req.matches[1]).substr(0, 3));
	std::string id = req.matches[2];
	if (dataset_.FindById(id) == nullptr) {
		HtmlStatus(res, 404, "404 Not Found", "The requested URL was not found on this server.");
		return;
	}
	Redirect(res, kRedirectStatuses[remaining % 4], Origin(req, urls_.api_base) + NextHop(remaining - 1, id));
}

void
Server::HandleFile(const httplib::Request &req, httplib::Response &res) {
	Count("files");
	const Record *record = dataset_.FindById(std::string(req.matches[1]));
	if (record == nullptr) {
		HtmlStatus(res, 404, "404 Not Found", "The requested URL was not found on this server.");
		return;
	}
	ServeImage(*record, res, "image/jpeg");
}

void
Server::HandleThumbnailV2(const httplib::Request &req, httplib::Response &res) {
	Count("thumbnail_v2");
	if (!req.has_param("uri")) {
		SetJson(res, 400,
		        CommonsError(400, "Bad Request",
		                     "Required request parameter 'uri' for method parameter type String is not present",
		                     req.path));
		return;
	}
	std::string uri = req.get_param_value("uri");
	/* The Thumbnail API's pattern ^((https?|ftp)://|urn:).*$, as prefixes. */
	if (!StartsWith(uri, "http://") && !StartsWith(uri, "https://") && !StartsWith(uri, "ftp://") &&
	    !StartsWith(uri, "urn:")) {
		SetJson(res, 400, CommonsError(400, "Bad Request", "INVALID URL: " + uri, req.path));
		return;
	}
	std::string type = req.has_param("type") ? req.get_param_value("type") : "IMAGE";
	const Record *record = nullptr;
	size_t media = uri.find("/media/");
	if (media != std::string::npos) {
		record = dataset_.FindByMediaKey(uri.substr(media + 7));
	}
	if (record == nullptr) {
		record = dataset_.FindByProviderUrl(uri);
	}
	res.set_header("Cache-Control", "public, max-age=604800, must-revalidate");
	res.set_header("ETag", "\"" + Md5Hex(uri).substr(0, 24) + "\"");
	if (record != nullptr && record->has_thumbnail) {
		CountFault("thumbnail_v2", "stored");
		ServeImage(*record, res, "image/jpeg");
		return;
	}
	CountFault("thumbnail_v2", "placeholder");
	SetFaultNote("placeholder");
	res.status = 200;
	res.set_header("Last-Modified", HttpDate(1577836800));
	res.set_content(PlaceholderPng(type), "image/png");
}

void
Server::HandleThumbnailV3(const httplib::Request &req, httplib::Response &res) {
	Count("thumbnail_v3");
	std::string size = req.matches[1];
	std::string id = ToLower(std::string(req.matches[2]));
	if (size != "200" && size != "400") {
		SetJson(res, 400, CommonsError(400, "Bad Request", "Invalid size. Supported values are 200 and 400", req.path));
		return;
	}
	for (const char *ext : {".jpg", ".jpeg", ".png", ".webp"}) {
		if (EndsWith(id, ext)) {
			id.resize(id.size() - std::string(ext).size());
			break;
		}
	}
	if (id.size() != 32 ||
	    !std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
		SetJson(res, 400, CommonsError(400, "Bad Request", "Invalid id: " + id, req.path));
		return;
	}
	auto it = thumbnail_by_md5_.find(id);
	if (it == thumbnail_by_md5_.end()) {
		CountFault("thumbnail_v3", "missing");
		SetJson(res, 404, CommonsError(404, "Not Found", "Media file not found", req.path));
		return;
	}
	CountFault("thumbnail_v3", "stored");
	res.set_header("Cache-Control", "public, max-age=604800, must-revalidate");
	ServeImage(*it->second, res, "image/jpeg");
}

} // namespace europeana::fake
