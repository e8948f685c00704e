#!/usr/bin/env bash
# Smoke test of the fake Europeana server (tools/fake_europeana): starts it on a free port with the pilot's
# record list, checks the behaviour the harvester relies on with curl, and stops it with SIGTERM.
#
#   tests/fake/smoke.sh [path/to/fake-europeana]
#
# Binary: $1, else $FAKE_EUROPEANA, else $BUILD/fake-europeana (BUILD defaults to ./build).
# Data:   $EUROPEANA_SHARED (default ../shared): europeana-pilot/ for records and vocabulary, and JPEG photos from
#         $FAKE_EUROPEANA_IMAGES (default $EUROPEANA_SHARED/models/samples).
# Needs curl and python3.  The last line is "N passed, M failed"; the exit status is non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SHARED=${EUROPEANA_SHARED:-$ROOT/../shared}
BIN=${1:-${FAKE_EUROPEANA:-$BUILD/fake-europeana}}
PILOT=$SHARED/europeana-pilot
IMAGES=${FAKE_EUROPEANA_IMAGES:-$SHARED/models/samples}
KEY=smoke-test-key-7f3a
PLACEHOLDER_SHA256=8656ce3f2e89250e82109dd660e6504a77ac2d0f7f2cb6113a336b211f528047

for need in "$BIN" "$PILOT/multilabel_dataset_open_permission.csv" "$PILOT/vocabulary.json" "$IMAGES"; do
	if [ ! -e "$need" ]; then
		echo "smoke: missing $need" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

TMP=$(mktemp -d)
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1${2:+: $2}"; }
# check NAME COMMAND...: passes when COMMAND exits 0.
check() {
	local name=$1
	shift
	local out
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
# py FILE EXPR: evaluates a Python expression with d = the JSON in FILE; exits 1 when it is false.
py() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
if v is False or v is None:
    print("false:", sys.argv[2], "on", json.dumps(d)[:300]); sys.exit(1)
if v is not True: print(v)' "$1" "$2"
}

"$BIN" --port 0 --records "$PILOT/multilabel_dataset_open_permission.csv" --vocabulary "$PILOT/vocabulary.json" \
	--images "$IMAGES" --api-key "$KEY" --access-log "$TMP/access.log" --slow-ms 3000 \
	>"$TMP/stdout" 2>"$TMP/stderr" &
PID=$!
for _ in $(seq 100); do
	[ -s "$TMP/stdout" ] && break
	sleep 0.1
done
PORT=$(sed -n '1s/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/stdout")
if [ -z "$PORT" ]; then
	echo "smoke: server did not start" >&2
	cat "$TMP/stderr" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
B=http://127.0.0.1:$PORT
S="$B/record/v2/search.json"
WOODWORK=http://data.europeana.eu/concept/base/59
echo "fake-europeana listening on $B"

# expect NAME STATUS PATTERN URL [curl args...]: passes when the answer has STATUS and its body holds PATTERN.
expect() {
	local name=$1 status=$2 pattern=$3 url=$4
	shift 4
	local code
	code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$@" "$url")
	if [ "$code" != "$status" ]; then
		fail "$name" "status $code: $(head -c 200 "$TMP/body")"
	elif [ -n "$pattern" ] && ! grep -qF -- "$pattern" "$TMP/body"; then
		fail "$name" "body: $(head -c 200 "$TMP/body")"
	else
		pass "$name"
	fi
}

# get NAME URL [curl args...]: body to $TMP/NAME.json, headers to $TMP/NAME.h, status to stdout.
get() {
	local name=$1 url=$2
	shift 2
	curl -s -o "$TMP/$name.json" -D "$TMP/$name.h" -w '%{http_code}' "$@" "$url"
}

# 1. Envelope: key order, requestNumber, content type, the key leaking into guid/link as the real API does.
get env "$S?query=*&rows=5" -H "X-Api-Key: $KEY" >/dev/null
check "envelope keys in order, requestNumber 999, 5 items" py "$TMP/env.json" \
	"list(d)==['apikey','success','requestNumber','itemsCount','totalResults','items'] and \
	 d['requestNumber']==999 and d['itemsCount']==5 and len(d['items'])==5"
check "content type application/json;charset=UTF-8" \
	grep -qi '^content-type: application/json;charset=UTF-8' "$TMP/env.h"
check "items leak the key in guid and link, arrays per §5" py "$TMP/env.json" \
	"all('$KEY' in i['guid'] and '$KEY' in i['link'] and isinstance(i['title'], list) and \
	     isinstance(i['id'], str) for i in d['items'])"

# 2. rows above 100 are silently capped.
get cap "$S?query=*&rows=500" -H "X-Api-Key: $KEY" >/dev/null
check "rows=500 capped to 100" py "$TMP/cap.json" "d['itemsCount']==100 and 'nextCursor' not in d"

# 3. Cursor paging to the end with the pilot's qf; the trailing empty page; both concept URI forms.
curl -s "$B/__fake/expected?concept=$WOODWORK" -o "$TMP/expected.json"
paging() {
	python3 - "$S" "$KEY" "$1" "$TMP/expected.json" <<'EOF'
import json, sys, urllib.parse, urllib.request
search, key, concept, expected = sys.argv[1:5]
cursor, ids, pages, last = '*', [], 0, None
while pages < 100:
    q = urllib.parse.urlencode([('query', '*'), ('qf', '(skos_concept:"%s" AND TYPE:IMAGE )' % concept),
                                ('rows', '10'), ('cursor', cursor), ('media', 'True')])
    d = json.load(urllib.request.urlopen(urllib.request.Request(search + '?' + q, headers={'X-Api-Key': key})))
    pages += 1
    ids += [i['id'] for i in d['items']]
    if d['itemsCount'] > 0 and 'nextCursor' not in d:
        sys.exit('a non-empty page has no nextCursor')
    if 'nextCursor' not in d:
        last = d
        break
    cursor = d['nextCursor']
want = [r['id'] for r in json.load(open(expected))['records']]
if last is None or last['itemsCount'] != 0 or last['items'] != []:
    sys.exit('no trailing empty page')
if ids != want:
    sys.exit('harvested %d ids, expected %d' % (len(ids), len(want)))
print(len(ids), 'records in', pages, 'pages')
EOF
}
check "cursor paging to the trailing empty page (concept/base/59)" paging "$WOODWORK"
check "same records for the new URI form (concept/59)" paging http://data.europeana.eu/concept/59

# 4. Keys: missing, empty, unknown; a missing query is a binding error, reported before the key check.
expect "no key -> 401 invalid_apikey" 401 '"code":"invalid_apikey"' "$S?query=*"
expect "empty wskey -> 401 empty_apikey" 401 '"code":"empty_apikey"' "$S?query=*&wskey="
expect "unknown key -> 401 401_key_invalid" 401 '"code":"401_key_invalid"' "$S?query=*" -H 'X-Api-Key: wrong'
expect "missing query -> 400 before the key check" 400 "Required parameter 'query' missing" "$S?rows=1"

# 5. Paging errors.
expect "start=950&rows=100 -> 400-SL" 400 '"code":"400-SL"' "$S?query=*&start=950&rows=100" -H "X-Api-Key: $KEY"
expect "unencoded cursor (+ becomes space) -> 400-SC" 400 '"code":"400-SC"' "$S?query=*&cursor=AoJ4+/+/LzEyMw==" \
	-H "X-Api-Key: $KEY"
expect "cursor with start=2 -> 400-SD" 400 '"code":"400-SD"' "$S?query=*&cursor=*&start=2" -H "X-Api-Key: $KEY"

# 6. Scripted faults: a 429 with RateLimit headers, then a connection reset, then normal service.
curl -s -X POST -d '{"script":["429","reset","ok"],"ratelimit":{"t":2}}' "$B/__fake/faults" -o /dev/null
expect "scripted 429 (429_limit_personal)" 429 '"code":"429_limit_personal"' "$S?query=*&rows=1" \
	-H "X-Api-Key: $KEY" -D "$TMP/r429.h"
check "429 carries RateLimit-Policy and RateLimit with t=2" grep -qi '^RateLimit: "personal";r=0;t=2' "$TMP/r429.h"
check "429 RateLimit-Policy q=1000 w=3600" grep -qi '^RateLimit-Policy: "personal";q=1000;w=3600' "$TMP/r429.h"
reset_closes() {
	! curl -s -o /dev/null -H "X-Api-Key: $KEY" "$S?query=*&rows=1"
}
check "scripted reset closes the connection without a response" reset_closes
expect "after the script, normal answers" 200 '"success":true' "$S?query=*&rows=1" -H "X-Api-Key: $KEY"

# 7. Media: a 3-hop redirect chain is followed, a 5-hop chain is refused by a client limited to 3.
curl -s "$B/__fake/expected" -o "$TMP/all.json"
first_with() {
	py "$TMP/all.json" "[r['$2'] for r in d['records'] if r['media_fault']=='$1'][0]"
}
URL3=$(first_with redirect3 media_url)
SHA3=$(first_with redirect3 image_sha256)
URL5=$(first_with redirect5 media_url)
redirect3() {
	local got
	got=$(curl -s -L --max-redirs 3 -o "$TMP/r3.bin" -w '%{http_code} %{num_redirects} %{content_type}' "$URL3")
	if [ "$got" != "200 3 image/jpeg" ] || [ "$(sha256sum <"$TMP/r3.bin" | cut -d' ' -f1)" != "$SHA3" ]; then
		echo "$got"
		return 1
	fi
}
redirect5() {
	curl -s -L --max-redirs 3 -o /dev/null "$URL5"
	[ $? = 47 ]
}
check "redirect3 media: 3 hops, then the record's JPEG" redirect3
check "redirect5 media refused with --max-redirs 3" redirect5

# 8. Thumbnails: the 2319-byte placeholder from v2, a 404 from v3.
placeholder() {
	curl -s -o "$TMP/ph.png" "$B/thumbnail/v2/url.json?uri=http%3A%2F%2Fexample.org%2Fmissing.jpg&type=IMAGE" &&
		[ "$(stat -c %s "$TMP/ph.png")" = 2319 ] &&
		[ "$(sha256sum <"$TMP/ph.png" | cut -d' ' -f1)" = "$PLACEHOLDER_SHA256" ]
}
check "v2 placeholder is the 2319-byte PNG" placeholder
expect "v3 unknown id -> 404 Media file not found" 404 'Media file not found' \
	"$B/thumbnail/v3/400/0123456789abcdef0123456789abcdef"

# 9. Record API, with the pilot's double slash; unknown ids give 404.
ID=$(py "$TMP/expected.json" "[r['id'] for r in d['records'] if r['has_is_shown_by']][0]")
get rec "$B/record/v2/$ID.json" -H "X-Api-Key: $KEY" >/dev/null
check "record API (v2//id.json): edmIsShownBy is a string" py "$TMP/rec.json" \
	"d['success'] and d['object']['about']=='$ID' and \
	 isinstance(d['object']['aggregations'][0]['edmIsShownBy'], str)"
expect "record API unknown id -> 404" 404 'Invalid record identifier: /92018/nope' "$B/record/v2/92018/nope.json" \
	-H "X-Api-Key: $KEY"

# 10. Access log: a key sent by header never appears; a wskey in the URL does, verbatim.
curl -s -o /dev/null "$S?query=*&rows=1&wskey=$KEY"
check "access log: exactly one line holds the key (the wskey URL)" [ "$(grep -c -- "$KEY" "$TMP/access.log")" = 1 ]
check "access log: X-Api-Key logged as <redacted>" grep -q 'x-api-key=<redacted>' "$TMP/access.log"

# 11. SIGTERM stops it promptly with status 0.
kill -TERM "$PID"
STOPPED=1
for _ in $(seq 50); do
	if ! kill -0 "$PID" 2>/dev/null; then STOPPED=0; break; fi
	sleep 0.1
done
wait "$PID"
STATUS=$?
PID=
check "SIGTERM: exits 0 within 5 s" [ "$STOPPED $STATUS" = "0 0" ]

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
