/*
 * harvest.cpp — harvest records from the Europeana Search API into tables.
 *
 *   CALL europeana.harvest(concept text, max_records integer, reusability text)
 *   europeana.search(query text, max_records integer, reusability text, qf text[]) → SETOF record
 *
 * harvest is a procedure: it commits after every page (SPI non-atomic), so a cancel, an
 * error or a crash loses at most the page in flight, and every run is a harvest_runs row
 * that a later call resumes from its cursor.  Network I/O happens on pipeline threads
 * (core/api/harvest_pipeline), never inside a statement; the main thread writes pages
 * through SPI inside PgCall, because the pipeline (with its threads) is alive meanwhile.
 * Cancel and statement_timeout are noticed within about 100 ms: the pipeline is stopped
 * and joined, the runs are marked, and only then does CHECK_FOR_INTERRUPTS raise.
 */
#include "core/api/harvest_pipeline.hpp"
#include "core/api/search_client.hpp"
#include "core/http/curl_http_client.hpp"
#include "pg/boundary.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

#include <set>
#include <string>
#include <vector>

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
}

namespace {

struct ConceptRun {
	int16 concept_id;
	char *name;
	char *query_uri; /* the URI sent in qf=skos_concept:"…" */
	int64 run_id;
	char *cursor;
	int64 stored; /* records stored by earlier attempts of this run */
	int64 max_records;
	int pages;
	bool done;
};

/* Splits and validates a reusability argument ("open", "open,restricted", …). Phase 1. */
List *
ParseReusability(const char *arg) {
	List *out = NIL;
	char *copy = pstrdup(arg);
	for (char *tok = strtok(copy, ", +"); tok != nullptr; tok = strtok(nullptr, ", +")) {
		char *value = asc_tolower(tok, strlen(tok));
		if (strcmp(value, "open") != 0 && strcmp(value, "restricted") != 0 && strcmp(value, "permission") != 0 &&
		    strcmp(value, "uncategorized") != 0) {
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid reusability \"%s\"", tok),
			                errhint("Use open, restricted, permission or uncategorized, or several separated by "
			                        "commas.")));
		}
		out = lappend(out, value);
	}
	if (out == NIL) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("reusability must not be empty"),
		                errhint("Use open, restricted, permission or uncategorized.")));
	}
	return out;
}

char *
JoinList(List *items, const char *sep) {
	StringInfoData buf;
	initStringInfo(&buf);
	ListCell *lc;
	foreach (lc, items) {
		if (buf.len > 0) {
			appendStringInfoString(&buf, sep);
		}
		appendStringInfoString(&buf, static_cast<char *>(lfirst(lc)));
	}
	return buf.data;
}

/* Raises an error unless the last SPI statement returned a row (a user trigger on
 * harvest_runs that returns NULL would otherwise leave nothing to read). */
void
RequireOneRow(const char *what) {
	if (SPI_processed < 1 || SPI_tuptable == nullptr) {
		ereport(ERROR, (errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
		                errmsg("%s returned no row from europeana.harvest_runs", what),
		                errhint("A trigger on europeana.harvest_runs must not suppress the extension's own writes.")));
	}
}

/* Finds or creates the harvest_runs row of each concept: an interrupted, cancelled or
 * failed run with the same parameters resumes from its cursor. Phase 1 (plain SPI). */
ConceptRun *
PrepareRuns(const char *concept, int32 max_records, const char *reusability, int *count) {
	/* runs left 'running' by a backend that is gone (or by this one, before an error) */
	SPI_execute("UPDATE europeana.harvest_runs SET status = 'interrupted', updated_at = now() "
	            "WHERE status = 'running' AND (backend_pid = pg_backend_pid() OR backend_pid IS NULL OR "
	            "backend_pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL))",
	            false, 0);

	const bool all = pg_strcasecmp(concept, "all") == 0 || strcmp(concept, "*") == 0;
	Oid types[1] = {TEXTOID};
	Datum values[1] = {CStringGetTextDatum(concept)};
	const int rc = SPI_execute_with_args(
	    all ? "SELECT concept_id, name, coalesce(europeana_uri, uri) FROM europeana.concepts ORDER BY concept_id"
	        : "SELECT concept_id, name, coalesce(europeana_uri, uri) FROM europeana.concepts "
	          "WHERE concept_id = europeana.concept_id($1)",
	    all ? 0 : 1, types, values, nullptr, true, 0);
	if (rc != SPI_OK_SELECT || SPI_processed == 0) {
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("unknown concept \"%s\"", concept),
		                errhint("Give a concept name from europeana.concepts, one of its URIs, or 'all'.")));
	}
	const int n = static_cast<int>(SPI_processed);
	ConceptRun *runs = static_cast<ConceptRun *>(palloc0(sizeof(ConceptRun) * n));
	SPITupleTable *tt = SPI_tuptable;
	for (int i = 0; i < n; i++) {
		bool isnull;
		runs[i].concept_id = DatumGetInt16(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		runs[i].name = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		runs[i].query_uri = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
	}
	for (int i = 0; i < n; i++) {
		Oid t[4] = {INT2OID, TEXTOID, TEXTOID, INT4OID};
		Datum v[4] = {Int16GetDatum(runs[i].concept_id), CStringGetTextDatum(reusability),
		              CStringGetTextDatum(europeana::pg::guc_api_url), Int32GetDatum(max_records)};
		SPI_execute_with_args("SELECT run_id, cursor, records_stored, pages FROM europeana.harvest_runs "
		                      "WHERE concept_id = $1 AND reusability = $2 AND api_url = $3 AND max_records = $4 "
		                      "AND status IN ('interrupted', 'cancelled', 'failed') "
		                      "ORDER BY run_id DESC LIMIT 1 FOR UPDATE SKIP LOCKED",
		                      4, t, v, nullptr, false, 1);
		if (SPI_processed == 1) {
			bool isnull;
			runs[i].run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			runs[i].cursor = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			runs[i].stored = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
			runs[i].pages = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
			Oid t1[1] = {INT8OID};
			Datum v1[1] = {Int64GetDatum(runs[i].run_id)};
			SPI_execute_with_args("UPDATE europeana.harvest_runs SET status = 'running', error = NULL, "
			                      "backend_pid = pg_backend_pid(), updated_at = now() WHERE run_id = $1",
			                      1, t1, v1, nullptr, false, 0);
			ereport(NOTICE, (errmsg("harvest %s: resuming run %lld at %lld records", runs[i].name,
			                        static_cast<long long>(runs[i].run_id), static_cast<long long>(runs[i].stored))));
		} else {
			char *filters = psprintf("{\"skos_concept:\\\"%s\\\"\",\"TYPE:IMAGE\"}", runs[i].query_uri);
			Oid t2[6] = {INT2OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
			Datum v2[6] = {Int16GetDatum(runs[i].concept_id), CStringGetTextDatum(reusability), Int32GetDatum(max_records),
			               CStringGetTextDatum(europeana::pg::guc_api_url), CStringGetTextDatum(filters),
			               CStringGetTextDatum("*")};
			SPI_execute_with_args("INSERT INTO europeana.harvest_runs (concept_id, reusability, max_records, api_url, "
			                      "filters, query, backend_pid) VALUES ($1, $2, $3, $4, $5::text[], $6, "
			                      "pg_backend_pid()) RETURNING run_id",
			                      6, t2, v2, nullptr, false, 1);
			RequireOneRow("creating a harvest run");
			bool isnull;
			runs[i].run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			runs[i].cursor = pstrdup("*");
		}
		runs[i].max_records = max_records;
	}
	*count = n;
	return runs;
}

constexpr int kPageAttempts = 3; /* writes of one page, when it deadlocks with other writers */

const char *const kWritePage =
    "WITH items AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, title text, data_provider text, provider text,"
    "    country text, rights text, type text, year text, is_shown_by text, is_shown_at text, preview text,"
    "    item jsonb)"
    "), up AS ("
    "  INSERT INTO europeana.records AS r (record_id, title, data_provider, provider, country, rights, type, year,"
    "    is_shown_by, is_shown_at, preview_url, item, first_run_id, last_run_id)"
    "  SELECT id, title, data_provider, provider, country, rights, type, year, is_shown_by, is_shown_at, preview,"
    "    item, $2, $2 FROM items ORDER BY id"
    "  ON CONFLICT (record_id) DO UPDATE SET title = excluded.title, data_provider = excluded.data_provider,"
    "    provider = excluded.provider, country = excluded.country, rights = excluded.rights, type = excluded.type,"
    "    year = excluded.year, is_shown_by = excluded.is_shown_by, is_shown_at = excluded.is_shown_at,"
    "    preview_url = excluded.preview_url, item = excluded.item, last_run_id = excluded.last_run_id,"
    "    updated_at = now()"
    "  RETURNING r.record_id"
    "), labels AS ("
    "  INSERT INTO europeana.record_concepts (record_id, concept_id, run_id)"
    "  SELECT record_id, $3, $2 FROM up ORDER BY record_id ON CONFLICT DO NOTHING"
    ")"
    "UPDATE europeana.harvest_runs SET cursor = $4, pages = pages + 1, items_seen = items_seen + $5,"
    "  records_stored = records_stored + (SELECT count(*) FROM up), total_results = $6, updated_at = now()"
    "  WHERE run_id = $2 RETURNING records_stored, pages";

void
MarkRun(int64 run_id, const char *status, const char *cursor, const char *error) {
	Oid t[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum v[4] = {Int64GetDatum(run_id), CStringGetTextDatum(status), cursor ? CStringGetTextDatum(cursor) : 0,
	              error ? CStringGetTextDatum(error) : 0};
	const char nulls[5] = {' ', ' ', cursor ? ' ' : 'n', error ? ' ' : 'n', '\0'};
	SPI_execute_with_args("UPDATE europeana.harvest_runs SET status = $2, cursor = coalesce($3, cursor), error = $4, "
	                      "updated_at = now(), finished_at = CASE WHEN $2 = 'completed' THEN now() END "
	                      "WHERE run_id = $1",
	                      4, t, v, nulls, false, 0);
}

/* Records every run of the call that is not done yet: `failed` (when given) as 'failed' with
 * `error`, the others as `status`.  PostgreSQL context only. */
void
MarkUnfinishedRuns(ConceptRun *runs, int nruns, const char *status, const ConceptRun *failed = nullptr,
                   const char *error = nullptr) {
	for (int i = 0; i < nruns; i++) {
		if (!runs[i].done) {
			MarkRun(runs[i].run_id, &runs[i] == failed ? "failed" : status, nullptr, &runs[i] == failed ? error : nullptr);
			runs[i].done = true;
		}
	}
}

} // namespace

/*
 * CALL europeana.harvest(...). Main thread only; commits after every page; may
 * ereport(ERROR) (bad arguments, API errors after retries, cancel).
 */
EUROPEANA_PG_FUNCTION(europeana_harvest) {
	/* phase 1: arguments, runs, plain SPI */
	europeana::pg::CheckExtensionVersion();
	europeana::pg::RequireNonAtomicCall(fcinfo, "europeana.harvest", "It commits after every page");
	if (PG_ARGISNULL(0)) {
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("concept must not be NULL"),
		                errhint("Give a concept name, URI or 'all'.")));
	}
	const char *concept = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const int32 max_records = PG_ARGISNULL(1) ? 3000 : PG_GETARG_INT32(1);
	if (max_records < 0) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_records must not be negative"),
		                errhint("Use 0 or more.")));
	}
	List *reusability_list = ParseReusability(PG_ARGISNULL(2) ? "open" : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	char *reusability = JoinList(reusability_list, ",");
	const char *api_key = europeana::pg::guc_api_key ? europeana::pg::guc_api_key : "";
	const char *api_url = europeana::pg::guc_api_url ? europeana::pg::guc_api_url : "";
	const int concurrency = europeana::pg::guc_harvest_concurrency;
	const long connect_ms = europeana::pg::guc_http_connect_timeout_ms;
	const long total_ms = europeana::pg::guc_http_timeout_ms;

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "europeana harvest page", ALLOCSET_DEFAULT_SIZES);
	int nruns = 0;
	ConceptRun *runs = PrepareRuns(concept, max_records, reusability, &nruns);
	SPI_commit();

	/* phase 2: the pipeline; every PostgreSQL call goes through PgCall */
	char *first_error = nullptr;
	char *first_hint = nullptr;
	int first_sqlstate = 0;
	bool interrupted = false;
	{
		std::vector<europeana::core::HarvestTask> tasks;
		for (int i = 0; i < nruns; i++) {
			europeana::core::HarvestTask task;
			task.query.base_url = api_url;
			task.query.api_key = api_key;
			task.query.query = "*";
			task.query.qf = {std::string("skos_concept:\"") + runs[i].query_uri + "\"", "TYPE:IMAGE"};
			ListCell *lc;
			foreach (lc, reusability_list) {
				task.query.reusability.emplace_back(static_cast<char *>(lfirst(lc)));
			}
			task.query.connect_timeout_ms = connect_ms;
			task.query.total_timeout_ms = total_ms;
			task.start_cursor = runs[i].cursor;
			task.max_records = static_cast<size_t>(std::max<int64>(0, runs[i].max_records - runs[i].stored));
			if (task.max_records == 0) {
				runs[i].done = true;
			}
			tasks.push_back(std::move(task));
		}
		europeana::core::InitCurlOnce();
		europeana::core::HarvestPipeline pipeline(
		    std::move(tasks), concurrency, [] { return std::make_unique<europeana::core::CurlHttpClient>(); },
		    europeana::core::RetryPolicy {});

		size_t open_tasks = static_cast<size_t>(nruns);
		while (open_tasks > 0) {
			if (europeana::pg::StopRequested()) {
				interrupted = true;
				break;
			}
			europeana::core::HarvestEvent event;
			if (!pipeline.Next(&event, std::chrono::milliseconds(100))) {
				continue;
			}
			ConceptRun &run = runs[event.task];
			if (event.kind == europeana::core::HarvestEvent::Kind::Page) {
				const std::string json = europeana::core::ItemsToJson(event.page.items);
				const size_t items = event.page.items.size();
				const int64 total = event.page.total_results;
				europeana::pg::PgCall([&] {
					/* A cancel is acted on between pages (StopRequested above), never in the
					 * middle of writing one, so the run can still be marked 'cancelled'.  Some
					 * code ignores the hold-off (the regex engine fails with "operation
					 * cancelled" once a cancel is pending, e.g. in a user's trigger): the page
					 * is written in a subtransaction, so such a failure drops only this page
					 * (the cursor stays before it) and the run is still marked. */
					HOLD_CANCEL_INTERRUPTS();
					int32 stored = 0;
					ErrorData *error = nullptr;
					/* records are upserted in id order, so two harvests cannot deadlock each
					 * other; a deadlock with other writers is retried */
					for (int attempt = 1; attempt <= kPageAttempts; attempt++) {
						error = europeana::pg::TryInSubtransaction([&] {
							MemoryContext caller = MemoryContextSwitchTo(scratch);
							Oid t[6] = {JSONBOID, INT8OID, INT2OID, TEXTOID, INT4OID, INT8OID};
							Datum v[6] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())),
							              Int64GetDatum(run.run_id),
							              Int16GetDatum(run.concept_id),
							              CStringGetTextDatum(event.cursor_after.c_str()),
							              Int32GetDatum(static_cast<int32>(items)),
							              Int64GetDatum(total)};
							SPI_execute_with_args(kWritePage, 6, t, v, nullptr, false, 0);
							RequireOneRow("writing a harvest page");
							bool isnull;
							stored = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
							run.pages = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
							SPI_freetuptable(SPI_tuptable); /* kept until SPI_finish otherwise: one per page */
							MemoryContextSwitchTo(caller);
						});
						MemoryContextReset(scratch);
						if (error == nullptr || error->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED ||
						    attempt == kPageAttempts || europeana::pg::StopRequested()) {
							break;
						}
						FreeErrorData(error);
					}
					if (error != nullptr && !europeana::pg::StopRequested()) {
						/* The page is lost and the call ends with this error: the runs are
						 * recorded first (this one failed, the others interrupted), so that
						 * any session can resume them, then the error is raised. */
						MarkUnfinishedRuns(runs, nruns, "interrupted", &run, error->message);
						SPI_commit();
						RESUME_CANCEL_INTERRUPTS();
						ReThrowError(error);
					}
					if (error != nullptr) {
						/* still holding the cancel (see the NOTICE below) */
						ereport(LOG, (errmsg("harvest %s: cancelled while writing page %d; the page is not stored "
						                     "and is fetched again when the run resumes",
						                     run.name, run.pages + 1),
						              errdetail("%s", error->message)));
						FreeErrorData(error);
						RESUME_CANCEL_INTERRUPTS();
						return; /* the loop sees the cancel and marks the run */
					}
					SPI_commit();
					/* still holding the cancel: a NOTICE checks for interrupts, and a cancel
					 * raised here would leave the run marked 'running' */
					ereport(NOTICE, (errmsg("harvest %s: page %d, %d records stored of %lld results", run.name,
					                        run.pages, stored, static_cast<long long>(total))));
					RESUME_CANCEL_INTERRUPTS();
				});
			} else {
				open_tasks--;
				run.done = true;
				const bool failed = event.kind == europeana::core::HarvestEvent::Kind::Failed;
				europeana::pg::PgCall([&] {
					HOLD_CANCEL_INTERRUPTS();
					MarkRun(run.run_id, failed ? "failed" : "completed",
					        failed ? nullptr : event.cursor_after.c_str(), failed ? event.error.c_str() : nullptr);
					SPI_commit();
					if (failed) {
						ereport(WARNING, (errcode(europeana::pg::SqlstateOf(event.error_kind)),
						                  errmsg("harvest %s failed: %s", run.name, event.error.c_str())));
					} else {
						ereport(NOTICE, (errmsg("harvest %s: completed", run.name)));
					}
					RESUME_CANCEL_INTERRUPTS();
				});
				if (failed && first_error == nullptr) {
					first_error = europeana::pg::PStrdupNoOom(event.error);
					first_hint = europeana::pg::PStrdupNoOom(event.hint);
					first_sqlstate = europeana::pg::SqlstateOf(event.error_kind);
				}
			}
		}
		pipeline.Stop();
	}

	/* phase 3: PostgreSQL only */
	if (interrupted) {
		/* Record where each unfinished run stopped before PostgreSQL raises the cancel. */
		HOLD_INTERRUPTS();
		/* in a subtransaction, like the page writes: a user trigger on harvest_runs whose
		 * regex meets the pending cancel must not take the other runs' marks with it */
		ErrorData *error = europeana::pg::TryInSubtransaction(
		    [&] { MarkUnfinishedRuns(runs, nruns, ProcDiePending ? "interrupted" : "cancelled"); });
		if (error != nullptr) {
			ereport(WARNING, (errcode(error->sqlerrcode),
			                  errmsg("harvest: the cancelled runs could not be marked: %s", error->message),
			                  errhint("They stay 'running' until the next harvest call marks them 'interrupted'.")));
			FreeErrorData(error);
		}
		SPI_commit();
		RESUME_INTERRUPTS();
		CHECK_FOR_INTERRUPTS();
	}
	if (first_error != nullptr) {
		/* before SPI_finish, which frees the procedure memory holding the message */
		ereport(ERROR, (errcode(first_sqlstate), errmsg("%s", first_error),
		                errhint("%s", *first_hint ? first_hint : "The run is recorded in europeana.harvest_runs; CALL "
		                                                         "europeana.harvest again to resume it.")));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

namespace {

struct SearchRow {
	char *fields[11]; /* record_id … preview_url, in the SQL column order */
	int nconcepts;
	char **concepts;
	char *item;
};

} // namespace

/*
 * europeana.search(query, max_records, reusability, qf): a live query, nothing stored.
 * Main thread only; the HTTP client runs in phase 2 and stops within about a second of a
 * cancel; rows are materialised in the SRF's per-query context.
 */
EUROPEANA_PG_FUNCTION(europeana_search) {
	/* phase 1 */
	europeana::pg::CheckExtensionVersion();
	InitMaterializedSRF(fcinfo, 0);
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	if (PG_ARGISNULL(0)) {
		return static_cast<Datum>(0);
	}
	const char *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const int32 max_records = PG_ARGISNULL(1) ? 100 : PG_GETARG_INT32(1);
	if (max_records < 0) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_records must not be negative"),
		                errhint("Use 0 or more.")));
	}
	List *reusability = PG_ARGISNULL(2) ? NIL : ParseReusability(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	int nqf = 0;
	Datum *qf_values = nullptr;
	bool *qf_nulls = nullptr;
	if (!PG_ARGISNULL(3)) {
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT, &qf_values, &qf_nulls, &nqf);
	}
	char **qf = static_cast<char **>(palloc0(sizeof(char *) * (nqf + 1)));
	for (int i = 0; i < nqf; i++) {
		qf[i] = qf_nulls[i] ? nullptr : TextDatumGetCString(qf_values[i]);
	}
	const char *api_key = europeana::pg::guc_api_key ? europeana::pg::guc_api_key : "";
	const char *api_url = europeana::pg::guc_api_url ? europeana::pg::guc_api_url : "";
	const long connect_ms = europeana::pg::guc_http_connect_timeout_ms;
	const long total_ms = europeana::pg::guc_http_timeout_ms;
	ListCell *lc;

	/* phase 2 */
	int count = 0;
	SearchRow *rows = nullptr;
	{
		europeana::core::SearchQuery q;
		q.base_url = api_url;
		q.api_key = api_key;
		q.query = query;
		for (int i = 0; i < nqf; i++) {
			if (qf[i] != nullptr && *qf[i] != '\0') {
				q.qf.emplace_back(qf[i]);
			}
		}
		foreach (lc, reusability) {
			q.reusability.emplace_back(static_cast<char *>(lfirst(lc)));
		}
		q.media = false;
		q.connect_timeout_ms = connect_ms;
		q.total_timeout_ms = total_ms;
		europeana::core::InitCurlOnce();
		europeana::core::CurlHttpClient http;
		europeana::core::SearchClient client(http, europeana::core::SystemClock(), europeana::core::RetryPolicy {});
		europeana::core::CursorPager pager(client, q, "*", static_cast<size_t>(max_records));
		std::vector<europeana::core::SearchItem> items;
		europeana::core::SearchPage page;
		const europeana::core::ShouldStop stop = [] { return europeana::pg::StopRequested(); };
		while (max_records > 0 && pager.Next(&page, stop)) {
			for (auto &item : page.items) {
				items.push_back(std::move(item));
			}
		}
		rows = static_cast<SearchRow *>(europeana::pg::PallocNoOom(sizeof(SearchRow) * (items.size() + 1)));
		for (const auto &it : items) {
			SearchRow &r = rows[count++];
			const std::string *f[11] = {&it.id,      &it.title,       &it.data_provider, &it.provider,
			                            &it.country, &it.rights,      &it.type,          &it.year,
			                            &it.is_shown_by, &it.is_shown_at, &it.preview};
			for (int c = 0; c < 11; c++) {
				r.fields[c] = f[c]->empty() ? nullptr : europeana::pg::PStrdupNoOom(*f[c]);
			}
			r.nconcepts = static_cast<int>(it.concepts.size());
			r.concepts = static_cast<char **>(europeana::pg::PallocNoOom(sizeof(char *) * (it.concepts.size() + 1)));
			for (size_t c = 0; c < it.concepts.size(); c++) {
				r.concepts[c] = europeana::pg::PStrdupNoOom(it.concepts[c]);
			}
			r.item = europeana::pg::PStrdupNoOom(it.json);
		}
	}

	/* phase 3 */
	for (int i = 0; i < count; i++) {
		Datum values[13];
		bool nulls[13] = {false};
		for (int c = 0; c < 11; c++) {
			if (rows[i].fields[c]) {
				values[c] = CStringGetTextDatum(rows[i].fields[c]);
			} else {
				nulls[c] = true;
			}
		}
		Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (rows[i].nconcepts + 1)));
		for (int c = 0; c < rows[i].nconcepts; c++) {
			elems[c] = CStringGetTextDatum(rows[i].concepts[c]);
		}
		values[11] = PointerGetDatum(construct_array(elems, rows[i].nconcepts, TEXTOID, -1, false, TYPALIGN_INT));
		values[12] = DirectFunctionCall1(jsonb_in, CStringGetDatum(rows[i].item));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return static_cast<Datum>(0);
}
