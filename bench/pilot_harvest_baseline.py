#!/usr/bin/python3
"""The pilot's harvester, reproduced as the baseline for `make bench`.

Sequential requests with cursor paging (rows=100), JSON parsing, one CSV row per item in
the pilot's format (category, skos_concept, URI, ID, URL) -- what
rd-img-classification-pilot's harvest_data.py did, with the standard library only.
Then, optionally, the pilot's image download: one URL after the other with a 7 s timeout.

usage: pilot_harvest_baseline.py harvest API_URL KEY OUT.csv MAX_PER_CONCEPT CONCEPT_URI...
       pilot_harvest_baseline.py fetch URLS.txt OUT_DIR
Prints one line: "<records or images> <seconds>".
"""
import csv
import json
import os
import sys
import time
import urllib.parse
import urllib.request


def harvest(api_url, key, out_csv, max_per_concept, concepts):
    n = 0
    start = time.perf_counter()
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["category", "skos_concept", "URI", "ID", "URL"])
        for uri in concepts:
            cursor, got, seen = "*", 0, set()
            while got < max_per_concept:
                params = [("query", "*"), ("qf", 'skos_concept:"%s"' % uri), ("qf", "TYPE:IMAGE"),
                          ("reusability", "open"), ("media", "true"), ("rows", "100"), ("cursor", cursor),
                          ("profile", "standard")]
                req = urllib.request.Request(api_url + "?" + urllib.parse.urlencode(params), headers={"X-Api-Key": key})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    page = json.loads(resp.read())
                items = page.get("items") or []
                for it in items:
                    if it["id"] in seen or got >= max_per_concept:
                        continue
                    seen.add(it["id"])
                    got += 1
                    url = (it.get("edmIsShownBy") or [""])[0]
                    w.writerow([uri.rsplit("/", 1)[-1], uri, "http://data.europeana.eu/item" + it["id"], it["id"], url])
                nxt = page.get("nextCursor")
                if not items or not nxt or nxt == cursor:
                    break
                cursor = nxt
            n += got
    return n, time.perf_counter() - start


def fetch(urls_file, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    urls = [u.strip() for u in open(urls_file) if u.strip()]
    start = time.perf_counter()
    ok = 0
    for i, url in enumerate(urls):
        try:
            with urllib.request.urlopen(url, timeout=7) as resp:
                data = resp.read()
            with open(os.path.join(out_dir, "%d.jpg" % i), "wb") as f:
                f.write(data)
            ok += 1
        except Exception:
            pass
    return ok, time.perf_counter() - start


if __name__ == "__main__":
    if sys.argv[1] == "harvest":
        n, s = harvest(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:])
    else:
        n, s = fetch(sys.argv[2], sys.argv[3])
    print(n, round(s, 3))
