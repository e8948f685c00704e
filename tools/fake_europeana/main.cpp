/*
 * fake-europeana — a deterministic stand-in for the Europeana Search, Record and Thumbnail APIs and for the provider
 * hosts behind edmIsShownBy, for tests.  Serves the pilot's labelled records on 127.0.0.1 with switchable faults.
 *
 *   fake-europeana --records CSV --vocabulary JSON --images DIR [--port N] [--api-key KEY] [--access-log FILE]
 *                  [--faults JSON|@FILE] [--media-faults SPEC] [--latency-ms N] [--media-latency-ms N] [--slow-ms N]
 *                  [--media-base URL] [--api-base URL] [--threads N] [--no-demo-key] [--disabled-key KEY]
 *                  [--no-is-shown-by-pct N] [--no-thumbnail-pct N]
 *                  [--dump-expectations [--concept URI] [--reusability LIST]]
 *
 * Prints "listening on 127.0.0.1:PORT" as its first stdout line once it accepts connections; runs until SIGTERM or
 * SIGINT and then exits 0.  See tools/fake_europeana/README.md.
 *
 * Threading: SIGINT/SIGTERM are blocked before any thread starts and collected by one signal thread, which stops the
 * server; the main thread runs the listener.
 */
#include "dataset.hpp"
#include "faults.hpp"
#include "server.hpp"
#include "util.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

namespace {

namespace fake = europeana::fake;

constexpr char kUsage[] =
    "usage: fake-europeana --records CSV --vocabulary JSON --images DIR [options]\n"
    "  --port N                 port on 127.0.0.1 (0, the default, picks a free one)\n"
    "  --api-key KEY            a valid API key (repeatable); api2demo is always valid unless --no-demo-key\n"
    "  --disabled-key KEY       a key answered with 401_key_disabled (repeatable)\n"
    "  --access-log FILE        one line per request, flushed per line (truncated at start)\n"
    "  --faults JSON|@FILE      initial fault configuration (same JSON as POST /__fake/faults)\n"
    "  --media-faults SPEC      none | default | kind=percent,... (media fault table)\n"
    "  --latency-ms N           delay before every search answer\n"
    "  --media-latency-ms N     delay before every media answer\n"
    "  --slow-ms N              how long \"slow\" and \"stall\" faults sleep (default 15000)\n"
    "  --media-base URL         prefix of rewritten media URLs (default http://127.0.0.1:PORT/media)\n"
    "  --api-base URL           origin used in edmPreview URLs (default http://127.0.0.1:PORT)\n"
    "  --threads N              worker threads (default 64)\n"
    "  --no-is-shown-by-pct N   percent of records without edmIsShownBy (default 3)\n"
    "  --no-thumbnail-pct N     percent of media without a stored thumbnail (default 5)\n"
    "  --dump-expectations      print the expectations JSON (optionally --concept URI, --reusability LIST) and exit\n";

struct Cli {
	int port = 0;
	fake::DatasetOptions dataset;
	fake::ServerOptions server;
	bool demo_key = true;
	bool dump = false;
	std::string concept_uri;
	std::string reusability;
	std::string faults;
	std::string media_faults;
	int64_t latency_ms = -1;
	int64_t media_latency_ms = -1;
	int64_t slow_ms = -1;
};

int64_t
NumberArg(const std::string &name, const std::string &value) {
	auto parsed = fake::ParseJavaInt(value);
	if (!parsed || *parsed < 0) {
		throw std::invalid_argument(name + " needs a non-negative integer, got '" + value + "'");
	}
	return *parsed;
}

Cli
ParseArgs(int argc, char **argv) {
	Cli cli;
	for (int i = 1; i < argc; i++) {
		std::string arg = argv[i];
		std::string value;
		bool has_inline = false;
		size_t eq = arg.find('=');
		if (fake::StartsWith(arg, "--") && eq != std::string::npos) {
			value = arg.substr(eq + 1);
			arg = arg.substr(0, eq);
			has_inline = true;
		}
		auto next = [&]() -> std::string {
			if (has_inline) {
				return value;
			}
			if (i + 1 >= argc) {
				throw std::invalid_argument(arg + " needs a value");
			}
			return argv[++i];
		};
		if (arg == "--help" || arg == "-h") {
			std::fputs(kUsage, stdout);
			std::exit(0);
		} else if (arg == "--port") {
			cli.port = int(NumberArg(arg, next()));
		} else if (arg == "--records") {
			cli.dataset.records_csv = next();
		} else if (arg == "--vocabulary") {
			cli.dataset.vocabulary_json = next();
		} else if (arg == "--images") {
			cli.dataset.images_dir = next();
		} else if (arg == "--access-log") {
			cli.server.access_log = next();
		} else if (arg == "--api-key") {
			cli.server.api_keys.insert(next());
		} else if (arg == "--disabled-key") {
			cli.server.disabled_keys.insert(next());
		} else if (arg == "--no-demo-key") {
			cli.demo_key = false;
		} else if (arg == "--faults") {
			cli.faults = next();
		} else if (arg == "--media-faults") {
			cli.media_faults = next();
		} else if (arg == "--latency-ms") {
			cli.latency_ms = NumberArg(arg, next());
		} else if (arg == "--media-latency-ms") {
			cli.media_latency_ms = NumberArg(arg, next());
		} else if (arg == "--slow-ms") {
			cli.slow_ms = NumberArg(arg, next());
		} else if (arg == "--media-base") {
			cli.server.media_base = next();
		} else if (arg == "--api-base") {
			cli.server.api_base = next();
		} else if (arg == "--threads") {
			cli.server.threads = size_t(NumberArg(arg, next()));
		} else if (arg == "--no-is-shown-by-pct") {
			cli.dataset.no_is_shown_by_pct = int(NumberArg(arg, next()));
		} else if (arg == "--no-thumbnail-pct") {
			cli.dataset.no_thumbnail_pct = int(NumberArg(arg, next()));
		} else if (arg == "--dump-expectations") {
			cli.dump = true;
		} else if (arg == "--concept") {
			cli.concept_uri = next();
		} else if (arg == "--reusability") {
			cli.reusability = next();
		} else {
			throw std::invalid_argument("unknown argument " + arg);
		}
	}
	if (cli.dataset.records_csv.empty() || cli.dataset.vocabulary_json.empty() || cli.dataset.images_dir.empty()) {
		throw std::invalid_argument("--records, --vocabulary and --images are required");
	}
	if (cli.demo_key) {
		cli.server.api_keys.insert("api2demo");
	}
	if (cli.port > 65535) {
		throw std::invalid_argument("--port must be at most 65535");
	}
	return cli;
}

/* BuildFaults applies --faults, then the single-purpose flags, which win over the JSON. */
fake::FaultConfig
BuildFaults(const Cli &cli) {
	fake::FaultConfig config;
	if (!cli.faults.empty()) {
		std::string text = cli.faults;
		if (text[0] == '@') {
			std::ifstream in(text.substr(1));
			if (!in) {
				throw std::invalid_argument("cannot read --faults file " + text.substr(1));
			}
			std::ostringstream buffer;
			buffer << in.rdbuf();
			text = buffer.str();
		}
		nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
		if (json.is_discarded()) {
			throw std::invalid_argument("--faults is not valid JSON");
		}
		config.Apply(json);
	}
	if (!cli.media_faults.empty()) {
		config.media = fake::MediaPlan::FromSpec(cli.media_faults);
	}
	if (cli.latency_ms >= 0) {
		config.latency_ms = cli.latency_ms;
	}
	if (cli.media_latency_ms >= 0) {
		config.media_latency_ms = cli.media_latency_ms;
	}
	if (cli.slow_ms >= 0) {
		config.slow_ms = cli.slow_ms;
	}
	return config;
}

} // namespace

int
main(int argc, char **argv) {
	sigset_t signals;
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, nullptr);
	signal(SIGPIPE, SIG_IGN);

	Cli cli;
	try {
		cli = ParseArgs(argc, argv);
		cli.server.faults = BuildFaults(cli);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "fake-europeana: %s\n%s", e.what(), kUsage);
		return 2;
	}

	std::unique_ptr<fake::Dataset> dataset;
	std::unique_ptr<fake::Server> server;
	try {
		auto started = std::chrono::steady_clock::now();
		dataset = std::make_unique<fake::Dataset>(cli.dataset);
		server = std::make_unique<fake::Server>(*dataset, cli.server);
		std::fprintf(stderr,
		             "fake-europeana: %zu records (%zu CSV rows, %zu repeated, %zu skipped), %zu concepts, %zu photos, "
		             "loaded in %lld ms\n",
		             dataset->Records().size(), dataset->csv_rows, dataset->duplicate_rows, dataset->skipped_rows,
		             dataset->Concepts().size(), dataset->ImageCount(),
		             static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
		                                        std::chrono::steady_clock::now() - started)
		                                        .count()));
	} catch (const std::exception &e) {
		std::fprintf(stderr, "fake-europeana: %s\n", e.what());
		return 1;
	}

	if (cli.dump) {
		server->SetUrls(cli.port);
		std::cout << server->Expectations(cli.concept_uri, cli.reusability).dump(1) << std::endl;
		return 0;
	}

	int port = server->Bind(cli.port);
	if (port <= 0) {
		std::fprintf(stderr, "fake-europeana: cannot bind 127.0.0.1:%d\n", cli.port);
		return 1;
	}

	std::atomic<bool> finished {false};
	std::thread signal_thread([&] {
		int received = 0;
		sigwait(&signals, &received);
		if (finished.load()) {
			return;
		}
		std::fprintf(stderr, "fake-europeana: signal %d, stopping\n", received);
		/* Repeat until the listener is gone: stop() is a no-op if the listener has not started yet. */
		while (!finished.load()) {
			server->Stop();
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
		}
	});

	std::printf("listening on 127.0.0.1:%d\n", port);
	std::fflush(stdout);
	bool ok = server->Run();
	finished.store(true);
	pthread_kill(signal_thread.native_handle(), SIGTERM);
	signal_thread.join();
	return ok || fake::StopRequested() ? 0 : 1;
}
