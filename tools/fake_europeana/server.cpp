/*
 * server.cpp — route table, access log, counters, the /__fake/ control endpoints and the expectations report of the
 * fake Europeana server (see server.hpp).
 *
 * Runs on httplib worker threads; mutex_ guards configuration and counters, log_mutex_ the access log file.
 */
#include "server.hpp"

#include "blobs.hpp"
#include "util.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace europeana::fake {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

thread_local std::string t_fault_note;

std::string
StripTrailingSlash(std::string url) {
	while (!url.empty() && url.back() == '/') {
		url.pop_back();
	}
	return url;
}

/* SocketPort returns the port of a bound/peer IPv4 or IPv6 address, or -1. */
int
SocketPort(const sockaddr_storage &addr) {
	if (addr.ss_family == AF_INET) {
		return ntohs(reinterpret_cast<const sockaddr_in &>(addr).sin_port);
	}
	if (addr.ss_family == AF_INET6) {
		return ntohs(reinterpret_cast<const sockaddr_in6 &>(addr).sin6_port);
	}
	return -1;
}

std::string
Sanitize(std::string text) {
	for (char &c : text) {
		if (c == '\n' || c == '\r' || c == '"') {
			c = '_';
		}
	}
	return text;
}

} // namespace

void
SetFaultNote(const std::string &note) {
	t_fault_note = note;
}

/*
 * AbortConnection finds this request's socket among the process's descriptors (httplib does not expose it) by
 * matching the local and peer ports, then sets SO_LINGER to zero and shuts it down: the client sees the connection
 * end with no response, and httplib's later close() sends a RST.  httplib still owns and closes the descriptor.
 */
void
AbortConnection(const httplib::Request &req) {
	DIR *dir = opendir("/proc/self/fd");
	if (dir == nullptr) {
		return;
	}
	while (struct dirent *entry = readdir(dir)) {
		char *end = nullptr;
		long fd = std::strtol(entry->d_name, &end, 10);
		if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) {
			continue;
		}
		sockaddr_storage local {};
		sockaddr_storage peer {};
		socklen_t local_len = sizeof(local);
		socklen_t peer_len = sizeof(peer);
		if (getsockname(int(fd), reinterpret_cast<sockaddr *>(&local), &local_len) != 0 ||
		    getpeername(int(fd), reinterpret_cast<sockaddr *>(&peer), &peer_len) != 0) {
			continue;
		}
		if (SocketPort(local) == req.local_port && SocketPort(peer) == req.remote_port) {
			linger hard_close {1, 0};
			setsockopt(int(fd), SOL_SOCKET, SO_LINGER, &hard_close, sizeof(hard_close));
			shutdown(int(fd), SHUT_RDWR);
			break;
		}
	}
	closedir(dir);
}

Server::Server(const Dataset &dataset, ServerOptions options)
    : dataset_(dataset), options_(std::move(options)), config_(options_.faults) {
	if (!options_.access_log.empty()) {
		log_ = std::fopen(options_.access_log.c_str(), "w");
		if (log_ == nullptr) {
			throw std::runtime_error("cannot open access log " + options_.access_log);
		}
	}
	Register();
}

Server::~Server() {
	if (log_ != nullptr) {
		std::fclose(log_);
	}
}

void
Server::SetUrls(int port) {
	port_ = port;
	std::string own = "http://127.0.0.1:" + std::to_string(port);
	urls_.api_base = options_.api_base.empty() ? own : StripTrailingSlash(options_.api_base);
	urls_.media_base =
	    options_.media_base.empty() ? urls_.api_base + "/media" : StripTrailingSlash(options_.media_base);
	Urls own_urls {own, own + "/media"};
	thumbnail_by_md5_.clear();
	for (const Record &record : dataset_.Records()) {
		if (!record.has_thumbnail) {
			continue;
		}
		const Record *owner = dataset_.FindById(record.media_owner);
		thumbnail_by_md5_.try_emplace(Md5Hex(MediaUrl(record, urls_)), owner);
		thumbnail_by_md5_.try_emplace(Md5Hex(MediaUrl(record, own_urls)), owner);
		thumbnail_by_md5_.try_emplace(Md5Hex(record.provider_url), owner);
	}
}

int
Server::Bind(int port) {
	int bound = -1;
	if (port == 0) {
		bound = http_.bind_to_any_port("127.0.0.1");
	} else if (http_.bind_to_port("127.0.0.1", port)) {
		bound = port;
	}
	if (bound > 0) {
		SetUrls(bound);
	}
	return bound;
}

bool
Server::Run() {
	return http_.listen_after_bind();
}

void
Server::Stop() {
	RequestStop();
	http_.stop();
}

FaultConfig
Server::Config() const {
	std::lock_guard<std::mutex> lock(mutex_);
	return config_;
}

void
Server::Count(const std::string &endpoint) {
	std::lock_guard<std::mutex> lock(mutex_);
	request_counts_[endpoint]++;
}

void
Server::CountFault(const std::string &area, const std::string &kind) {
	std::lock_guard<std::mutex> lock(mutex_);
	fault_counts_[area][kind]++;
}

void
Server::Register() {
	size_t threads = std::max<size_t>(4, options_.threads);
	/* httplib takes ownership of the queue it gets from this factory. */
	http_.new_task_queue = [threads] {
		return new httplib::ThreadPool(threads);
	};
	http_.set_keep_alive_max_count(100);
	http_.set_keep_alive_timeout(2);
	http_.set_read_timeout(10, 0);
	http_.set_write_timeout(10, 0);
	http_.set_payload_max_length(1 << 20);
	http_.set_pre_routing_handler([](const httplib::Request &, httplib::Response &) {
		t_fault_note.clear();
		return httplib::Server::HandlerResponse::Unhandled;
	});
	http_.set_logger([this](const httplib::Request &req, const httplib::Response &res) { Log(req, res); });
	httplib::Server::HandlerWithResponse error_handler = [](const httplib::Request &, httplib::Response &res) {
		if (!res.body.empty() || res.status < 400) {
			return httplib::Server::HandlerResponse::Unhandled;
		}
		ordered_json body;
		body["success"] = false;
		body["error"] = res.status == 404 ? std::string("Not Found") : "Error " + std::to_string(res.status);
		SetJson(res, res.status, body);
		return httplib::Server::HandlerResponse::Handled;
	};
	http_.set_error_handler(error_handler);

	auto bind = [this](void (Server::*handler)(const httplib::Request &, httplib::Response &)) {
		return [this, handler](const httplib::Request &req, httplib::Response &res) {
			(this->*handler)(req, res);
		};
	};
	auto not_allowed = [](const httplib::Request &req, httplib::Response &res) {
		ordered_json body;
		body["success"] = false;
		body["error"] = "Request method '" + req.method + "' is not allowed for the requested resource";
		SetJson(res, 405, body);
		res.set_header("Allow", "GET, HEAD, POST");
	};

	const std::string search = R"(/(?:record/v2|api/v2|record)/search\.json)";
	http_.Get(search, bind(&Server::HandleSearch));
	http_.Post(search, bind(&Server::HandleSearch));
	http_.Put(search, not_allowed);
	http_.Delete(search, not_allowed);
	http_.Patch(search, not_allowed);
	http_.Get(R"(/(?:record/v2|api/v2/record|v2/record|record)/+([^/]+)/+([^/]+)\.json)", bind(&Server::HandleRecord));
	http_.Get("/thumbnail/v2/url.json", bind(&Server::HandleThumbnailV2));
	http_.Get("/api/v2/thumbnail-by-url.json", bind(&Server::HandleThumbnailV2));
	http_.Get(R"(/thumbnail/v3/([^/]+)/([^/]+))", bind(&Server::HandleThumbnailV3));
	http_.Get(R"(/media/.+)", bind(&Server::HandleMedia));
	http_.Get(R"(/redirect/(\d+)(/[^/]+/[^/]+))", bind(&Server::HandleRedirect));
	http_.Get(R"(/files(/[^/]+/[^/]+))", bind(&Server::HandleFile));
	http_.Get("/__fake/faults", bind(&Server::HandleFaults));
	http_.Post("/__fake/faults", bind(&Server::HandleFaults));
	http_.Get("/__fake/stats", bind(&Server::HandleStats));
	http_.Post("/__fake/reset", bind(&Server::HandleReset));
	http_.Get("/__fake/expected", bind(&Server::HandleExpected));
	http_.Get("/__fake/health", [this](const httplib::Request &, httplib::Response &res) {
		Count("control");
		ordered_json body;
		body["success"] = true;
		body["records"] = dataset_.Records().size();
		body["images"] = dataset_.ImageCount();
		body["port"] = port_;
		SetJson(res, 200, body);
	});
}

/*
 * Log writes one line per request: time, method, the request target verbatim (so a key sent as ?wskey= shows up),
 * status ("RST" for an aborted connection), the fault served, and selected headers with credentials redacted.
 */
void
Server::Log(const httplib::Request &req, const httplib::Response &res) {
	std::string note = t_fault_note.empty() ? "-" : t_fault_note;
	t_fault_note.clear();
	{
		std::lock_guard<std::mutex> lock(mutex_);
		status_counts_[note == "reset" ? "reset" : std::to_string(res.status)]++;
	}
	if (log_ == nullptr) {
		return;
	}
	std::string authorization = "-";
	if (req.has_header("Authorization")) {
		std::string value = Trim(req.get_header_value("Authorization"));
		authorization = Sanitize(value.substr(0, value.find(' '))) + " <redacted>";
	}
	std::string line = IsoTimeMs(
	    std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
	        .count());
	line +=
	    " " + req.method + " " + Sanitize(req.target) + " " + (note == "reset" ? "RST" : std::to_string(res.status));
	line += " fault=" + note;
	line += " x-api-key=" + std::string(req.has_header("X-Api-Key") ? "<redacted>" : "-");
	line += " authorization=" + authorization;
	line += " host=" + Sanitize(req.get_header_value("Host"));
	line += " user-agent=\"" + Sanitize(req.get_header_value("User-Agent")) + "\"\n";
	std::lock_guard<std::mutex> lock(log_mutex_);
	std::fputs(line.c_str(), log_);
	std::fflush(log_);
}

void
Server::HandleFaults(const httplib::Request &req, httplib::Response &res) {
	Count("control");
	if (req.method == "POST") {
		json body = json::parse(req.body, nullptr, false);
		if (body.is_discarded()) {
			ordered_json error;
			error["success"] = false;
			error["error"] = "request body is not valid JSON";
			SetJson(res, 400, error);
			return;
		}
		std::lock_guard<std::mutex> lock(mutex_);
		try {
			config_.Apply(body);
		} catch (const std::exception &e) {
			ordered_json error;
			error["success"] = false;
			error["error"] = e.what();
			SetJson(res, 400, error);
			return;
		}
	}
	SetJson(res, 200, ordered_json(Config().ToJson()));
}

void
Server::HandleStats(const httplib::Request &, httplib::Response &res) {
	Count("control");
	std::lock_guard<std::mutex> lock(mutex_);
	json body = {
	    {"requests", request_counts_},
	    {"status", status_counts_},
	    {"faults", fault_counts_},
	    {"sequence", {{"search", config_.search.seq}, {"record", config_.record.seq}}},
	};
	SetJson(res, 200, ordered_json(body));
}

void
Server::HandleReset(const httplib::Request &, httplib::Response &res) {
	{
		std::lock_guard<std::mutex> lock(mutex_);
		request_counts_.clear();
		status_counts_.clear();
		fault_counts_.clear();
		config_.search.seq = 0;
		config_.record.seq = 0;
		random_sort_counter_ = 0;
		window_started_ = false;
		window_count_ = 0;
	}
	ordered_json body;
	body["success"] = true;
	SetJson(res, 200, body);
}

void
Server::HandleExpected(const httplib::Request &req, httplib::Response &res) {
	Count("control");
	std::string concept_uri = req.has_param("concept") ? req.get_param_value("concept") : std::string();
	std::string reusability = req.has_param("reusability") ? req.get_param_value("reusability") : std::string();
	SetJson(res, 200, ordered_json(Expectations(concept_uri, reusability)));
}

json
Server::Expectations(const std::string &concept_uri, const std::string &reusability) const {
	json out = json::object();
	out["concept"] = concept_uri;
	std::optional<size_t> concept_index;
	if (!concept_uri.empty()) {
		concept_index = dataset_.FindConcept(concept_uri);
		out["known_concept"] = concept_index.has_value();
		if (concept_index) {
			out["concept_name"] = dataset_.Concepts()[*concept_index].name;
		}
	}
	std::set<std::string> wanted;
	for (const std::string &word : SplitAny(reusability, ", +")) {
		std::string lower = ToLower(word);
		if (lower == "open" || lower == "restricted" || lower == "permission" || lower == "uncategorized") {
			wanted.insert(lower);
		}
	}
	FaultConfig config = Config();
	json records = json::array();
	std::map<std::string, uint64_t> kinds;
	for (const Record &record : dataset_.Records()) {
		if (!concept_uri.empty() && (!concept_index || std::find(record.concepts.begin(), record.concepts.end(),
		                                                         *concept_index) == record.concepts.end())) {
			continue;
		}
		if (!wanted.empty() && wanted.count(record.reusability) == 0) {
			continue;
		}
		json labels = json::array();
		json concepts = json::array();
		for (size_t index : record.concepts) {
			labels.push_back(dataset_.Concepts()[index].name);
			concepts.push_back(dataset_.Concepts()[index].edm_uri);
		}
		std::string kind = MediaKindFor(record, config);
		kinds[kind]++;
		ImageFacts facts = dataset_.ImageInfo(record.image_index);
		std::string media_url = MediaUrl(record, urls_);
		records.push_back({
		    {"id", record.id},
		    {"labels", labels},
		    {"concepts", concepts},
		    {"rights", record.rights},
		    {"reusability", record.reusability},
		    {"has_is_shown_by", record.has_is_shown_by},
		    {"media_url", media_url},
		    {"media_owner", record.media_owner},
		    {"media_fault", kind},
		    {"image_expected", MediaKindServesImage(kind)},
		    {"thumbnail", record.has_thumbnail},
		    {"thumbnail_v3_id", Md5Hex(media_url)},
		    {"image_file", facts.relative_path},
		    {"image_bytes", facts.bytes},
		    {"image_sha256", facts.sha256},
		});
	}
	out["total"] = records.size();
	out["media_faults"] = kinds;
	out["placeholder_sha256"] = Sha256Hex(PlaceholderPng("IMAGE"));
	out["records"] = records;
	return out;
}

} // namespace europeana::fake
