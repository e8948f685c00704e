/*
 * europeana-load — store image files as bytea in europeana.images (libpqxx client).
 *
 *   europeana-load [-d CONNINFO] [-n LIMIT_PER_DIR] PATH...
 *
 * Each PATH is a file or a directory (walked recursively, sorted, image extensions
 * only).  Rows get name = the path relative to the PATH given (so class folders stay
 * visible, e.g. "train/dress/1a2b.jpg") and source_url = file://<absolute path>.  All
 * files go in one transaction; prints how many rows and bytes were stored.
 * Connection parameters default to libpq's environment (PGHOST, PGPORT, ...).
 */
#include <pqxx/pqxx>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

bool
IsImageName(const fs::path &p) {
	std::string ext = p.extension().string();
	std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
	static const char *kExts[] = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".jp2", ".j2k"};
	return std::any_of(std::begin(kExts), std::end(kExts), [&](const char *e) { return ext == e; });
}

struct Entry {
	fs::path file;
	std::string name;
};

void
Collect(const fs::path &root, long per_dir_limit, std::vector<Entry> *out) {
	if (fs::is_regular_file(root)) {
		out->push_back({root, root.filename().string()});
		return;
	}
	if (!fs::is_directory(root)) {
		throw std::runtime_error("no such file or directory: " + root.string());
	}
	std::vector<fs::path> files;
	for (const auto &e : fs::recursive_directory_iterator(root)) {
		if (e.is_regular_file() && IsImageName(e.path())) {
			files.push_back(e.path());
		}
	}
	std::sort(files.begin(), files.end());
	std::map<fs::path, long> per_dir;
	for (const auto &f : files) {
		if (per_dir_limit > 0 && per_dir[f.parent_path()]++ >= per_dir_limit) {
			continue;
		}
		out->push_back({f, fs::relative(f, root).string()});
	}
}

} // namespace

int
main(int argc, char **argv) {
	std::string conninfo;
	long per_dir_limit = 0;
	std::vector<std::string> paths;
	for (int i = 1; i < argc; i++) {
		const std::string a = argv[i];
		if (a == "-d" && i + 1 < argc) {
			conninfo = argv[++i];
		} else if (a == "-n" && i + 1 < argc) {
			per_dir_limit = std::strtol(argv[++i], nullptr, 10);
		} else if (a == "-h" || a == "--help") {
			std::cout << "usage: europeana-load [-d CONNINFO] [-n LIMIT_PER_DIR] PATH...\n";
			return 0;
		} else {
			paths.push_back(a);
		}
	}
	if (paths.empty()) {
		std::cerr << "europeana-load: no files given\n";
		return 2;
	}
	try {
		std::vector<Entry> entries;
		for (const auto &p : paths) {
			Collect(p, per_dir_limit, &entries);
		}
		pqxx::connection conn(conninfo);
		conn.prepare("store", "INSERT INTO europeana.images (name, source_url, content) VALUES ($1, $2, $3)");
		pqxx::work tx(conn);
		size_t bytes = 0;
		for (const auto &e : entries) {
			std::ifstream in(e.file, std::ios::binary);
			const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
			if (!in.good() && !in.eof()) {
				throw std::runtime_error("could not read " + e.file.string());
			}
			bytes += data.size();
			tx.exec_prepared("store", e.name, "file://" + fs::absolute(e.file).string(),
			                 pqxx::binarystring(data.data(), data.size()));
		}
		tx.commit();
		std::cout << "europeana-load: stored " << entries.size() << " images (" << bytes << " bytes)\n";
	} catch (const std::exception &e) {
		std::cerr << "europeana-load: " << e.what() << "\n";
		return 1;
	}
	return 0;
}
