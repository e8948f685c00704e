-- pg_europeana: Europeana's image-classification pipeline inside PostgreSQL.
-- Master install script; the build copies it to europeana--<version>.sql.

\echo Use "CREATE EXTENSION europeana" to load this file. \quit

-------------------------------------------------------------------------------
-- Vocabulary
-------------------------------------------------------------------------------
CREATE TABLE @extschema@.concepts (
    concept_id          smallint PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    uri                 text NOT NULL UNIQUE,
    europeana_base_uri  text UNIQUE,
    europeana_uri       text UNIQUE,
    getty_aat_uri       text,
    wikidata_uri        text,
    dbpedia_uri         text,
    builtin             boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.concepts IS
  'Controlled vocabulary of object types. concept_id is the class index of native models; uri is the URI the '
  'vocabulary uses (Europeana concept/base/NN or Getty AAT); both Europeana URI forms are kept for matching.';

INSERT INTO @extschema@.concepts
    (concept_id, name, uri, europeana_base_uri, europeana_uri, getty_aat_uri, wikidata_uri, dbpedia_uri, builtin)
SELECT v.id, v.name, coalesce('http://data.europeana.eu/concept/base/' || v.ef, 'http://vocab.getty.edu/aat/' || v.aat),
       'http://data.europeana.eu/concept/base/' || v.ef, 'http://data.europeana.eu/concept/' || v.ef,
       'http://vocab.getty.edu/aat/' || v.aat, 'http://www.wikidata.org/entity/' || v.wd, v.dbp, true
FROM (VALUES
    (0,  'archaeological_site', NULL,  '300266151', 'Q839954',  'http://dbpedia.org/page/Archaeological_site'),
    (1,  'building',            '29',  '300004792', 'Q41176',   'http://dbpedia.org/page/Building'),
    (2,  'ceramics',            '31',  '300151343', 'Q45621',   'http://dbpedia.org/resource/Ceramic'),
    (3,  'clothing',            NULL,  '300266639', 'Q11460',   'http://dbpedia.org/page/Clothing'),
    (4,  'costume_accessories', NULL,  '300209273', 'Q1065579', NULL),
    (5,  'drawing',             '35',  '300033973', 'Q93184',   'http://dbpedia.org/resource/Drawing'),
    (6,  'furniture',           '37',  '300037680', 'Q14745',   'http://dbpedia.org/page/Furniture'),
    (7,  'inscription',         NULL,  '300028702', 'Q1640824', NULL),
    (8,  'jewellery',           '41',  '300209286', 'Q161439',  'http://dbpedia.org/resource/Jewellery'),
    (9,  'map',                 '43',  '300028094', 'Q4006',    'http://dbpedia.org/resource/Map'),
    (10, 'painting',            '47',  '300033618', 'Q11629',   'http://dbpedia.org/resource/Painting'),
    (11, 'photograph',          '48',  '300046300', 'Q125191',  'http://dbpedia.org/resource/Photograph'),
    (12, 'postcard',            '50',  '300026816', 'Q192425',  'http://dbpedia.org/resource/Postcard'),
    (13, 'sculpture',           '51',  '300047090', 'Q11634',   'http://dbpedia.org/resource/Sculpture'),
    (14, 'specimen',            '167', '300235576', 'Q2075980', 'http://dbpedia.org/page/Biological_specimen'),
    (15, 'tapestry',            '54',  '300205002', 'Q184296',  'http://dbpedia.org/resource/Tapestry'),
    (16, 'textile',             '55',  '300231565', 'Q28823',   'http://dbpedia.org/page/Textile'),
    (17, 'toy',                 '56',  '300211037', 'Q11422',   'http://dbpedia.org/resource/Toy'),
    (18, 'weaponry',            NULL,  '300036926', 'Q728',     'http://dbpedia.org/page/Weapon'),
    (19, 'woodwork',            '59',  '300015348', 'Q816871',  'http://dbpedia.org/resource/Woodworking')
) AS v(id, name, ef, aat, wd, dbp);

CREATE FUNCTION @extschema@.concept_id(concept text)
RETURNS smallint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.concept_id
    FROM @extschema@.concepts AS c,
         LATERAL (SELECT rtrim(regexp_replace(btrim(concept), '^https://', 'http://'), '/') AS v) AS n
    WHERE c.name = lower(n.v)
       OR n.v IN (c.uri, c.europeana_base_uri, c.europeana_uri, c.getty_aat_uri, c.wikidata_uri)
    ORDER BY c.concept_id
    LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@.concept_id(text) IS
  'Resolves a concept given by name or by any of its URIs (Europeana concept/base/NN or concept/NN, Getty AAT, '
  'Wikidata; https accepted) to its concept_id; NULL when unknown.';

-------------------------------------------------------------------------------
-- Harvested records and their images
-------------------------------------------------------------------------------
CREATE TABLE @extschema@.harvest_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concept_id      smallint REFERENCES @extschema@.concepts,
    query           text NOT NULL DEFAULT '*',
    filters         text[] NOT NULL DEFAULT '{}',
    reusability     text NOT NULL DEFAULT 'open',
    max_records     integer CHECK (max_records IS NULL OR max_records >= 0),
    api_url         text,
    cursor          text NOT NULL DEFAULT '*',
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'interrupted')),
    pages           integer NOT NULL DEFAULT 0,
    items_seen      integer NOT NULL DEFAULT 0,
    records_stored  integer NOT NULL DEFAULT 0,
    total_results   bigint,
    error           text,
    backend_pid     integer,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
COMMENT ON TABLE @extschema@.harvest_runs IS
  'One row per harvest from the Europeana Search API: parameters, the cursor reached, counts, status and error; '
  'an interrupted run resumes from its cursor.';

CREATE TABLE @extschema@.records (
    record_id       text PRIMARY KEY CHECK (record_id LIKE '/_%/_%' AND record_id NOT LIKE '//%'),
    title           text,
    data_provider   text,
    provider        text,
    country         text,
    rights          text,
    type            text,
    year            text,
    is_shown_by     text,
    is_shown_at     text,
    preview_url     text,
    item            jsonb,
    first_run_id    bigint REFERENCES @extschema@.harvest_runs ON DELETE SET NULL,
    last_run_id     bigint REFERENCES @extschema@.harvest_runs ON DELETE SET NULL,
    harvested_at    timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.records IS
  'One row per Europeana item, keyed by its id /datasetId/localId. item is the API''s JSON with the API key '
  'scrubbed (apikey, link and guid removed).';

CREATE TABLE @extschema@.record_concepts (
    record_id   text NOT NULL REFERENCES @extschema@.records ON DELETE CASCADE,
    concept_id  smallint NOT NULL REFERENCES @extschema@.concepts,
    run_id      bigint REFERENCES @extschema@.harvest_runs ON DELETE SET NULL,
    labelled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, concept_id)
);
CREATE INDEX record_concepts_concept_id_idx ON @extschema@.record_concepts (concept_id);
COMMENT ON INDEX @extschema@.record_concepts_concept_id_idx IS 'Records of a concept (harvest_progress, dataset).';
COMMENT ON TABLE @extschema@.record_concepts IS
  'Concept labels of records (a record harvested under several concepts has several labels: the pilot''s '
  'multi-label dataset).';

CREATE TABLE @extschema@.images (
    image_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id       text UNIQUE REFERENCES @extschema@.records ON DELETE CASCADE,
    name            text,
    source_url      text,
    content         bytea,
    mime_type       text,
    byte_size       integer,
    width           integer,
    height          integer,
    sha256          bytea,
    status          text NOT NULL DEFAULT 'stored' CHECK (status IN ('pending', 'stored', 'failed')),
    http_status     integer,
    fetch_error     text,
    fetch_attempts  integer NOT NULL DEFAULT 0,
    fetched_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE @extschema@.images ALTER COLUMN content SET STORAGE EXTERNAL;
CREATE INDEX images_sha256_idx ON @extschema@.images (sha256);
COMMENT ON INDEX @extschema@.images_sha256_idx IS 'Images by content hash: finds duplicate bytes.';
COMMENT ON TABLE @extschema@.images IS
  'Image bytes (bytea, storage EXTERNAL: JPEGs do not compress) of a record, or inserted directly (record_id NULL); '
  'fetch status and error for downloads. byte_size and sha256 are maintained by a trigger.';

-- Kept in plain SQL so that inserting an image never loads the inference library.
CREATE FUNCTION @extschema@._images_before_write()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.content IS NULL THEN
        NEW.byte_size := NULL;
        NEW.sha256 := NULL;
    ELSE
        NEW.byte_size := octet_length(NEW.content);
        NEW.sha256 := sha256(NEW.content);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- header facts of replaced content are stale, unless the same statement gives new
        -- ones (fetch_images retrying a failed download sets content, mime_type and size);
        -- new values equal to the old ones cannot be told apart and are cleared too
        IF NEW.sha256 IS DISTINCT FROM OLD.sha256
           AND (NEW.mime_type, NEW.width, NEW.height) IS NOT DISTINCT FROM (OLD.mime_type, OLD.width, OLD.height) THEN
            NEW.mime_type := NULL;
            NEW.width := NULL;
            NEW.height := NULL;
        END IF;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@._images_before_write() IS
  'Trigger: keeps images.byte_size and images.sha256 in step with content; clears the header facts (mime_type, '
  'width, height) of replaced content unless the same statement sets new ones.';
CREATE TRIGGER images_before_write
    BEFORE INSERT OR UPDATE OF content ON @extschema@.images
    FOR EACH ROW EXECUTE FUNCTION @extschema@._images_before_write();
COMMENT ON TRIGGER images_before_write ON @extschema@.images IS
  'Keeps byte_size and sha256 in step with content; clears stale header facts.';

-------------------------------------------------------------------------------
-- Models, enrichment queue and results
-------------------------------------------------------------------------------
CREATE TABLE @extschema@.models (
    model_id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    version         text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('native', 'mapped')),
    file            text NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    quantized       boolean NOT NULL DEFAULT false,
    labels          text[] NOT NULL,
    label_concepts  text[] NOT NULL,
    metadata        jsonb NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version),
    CHECK (cardinality(labels) = cardinality(label_concepts))
);
COMMENT ON TABLE @extschema@.models IS
  'Registered models (register_model): name, version, weights file and sha256, output labels and the concept each '
  'label maps to (NULL: none of the vocabulary), and the full metadata. Enrichments refer to a row here.';

CREATE TABLE @extschema@.enrichment_queue (
    queue_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    image_id        bigint NOT NULL REFERENCES @extschema@.images ON DELETE CASCADE,
    model_id        integer REFERENCES @extschema@.models ON DELETE CASCADE,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_sqlstate   text,
    dead_at         timestamptz,
    -- an image is queued at most once per model (NULL, the default model, counts as one model)
    UNIQUE NULLS NOT DISTINCT (image_id, model_id)
);
CREATE INDEX enrichment_queue_next_attempt_at_idx ON @extschema@.enrichment_queue (next_attempt_at) WHERE dead_at IS NULL;
COMMENT ON INDEX @extschema@.enrichment_queue_next_attempt_at_idx IS
  'Live queue rows in claiming order (next_attempt_at); dead-lettered rows are left out.';
COMMENT ON TABLE @extschema@.enrichment_queue IS
  'Images waiting for enrichment, at most once per model (model_id NULL: the default model of whoever processes it). '
  'Claimed with FOR UPDATE SKIP LOCKED; a poison image records attempts and last error and is dead-lettered '
  '(dead_at) after too many attempts.';

CREATE TABLE @extschema@.enrichments (
    enrichment_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    image_id        bigint NOT NULL REFERENCES @extschema@.images ON DELETE CASCADE,
    model_id        integer NOT NULL REFERENCES @extschema@.models,
    rank            smallint NOT NULL CHECK (rank >= 1),
    concept_id      smallint REFERENCES @extschema@.concepts,
    score           real NOT NULL,
    label           text,
    label_score     real,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (image_id, model_id, rank)
);
CREATE INDEX enrichments_concept_id_idx ON @extschema@.enrichments (concept_id) WHERE rank = 1;
COMMENT ON INDEX @extschema@.enrichments_concept_id_idx IS 'Images by their best concept (rank 1).';

-- Ingest: a stored or replaced image is queued for enrichment. Plain SQL, so the inserting
-- transaction never loads the inference library; the queue row commits with the image.
-- SECURITY DEFINER: a role granted INSERT or UPDATE on images (an ingest job) needs no
-- privilege on the queue; the function only queues NEW.image_id and is not callable directly.
CREATE FUNCTION @extschema@._images_enqueue()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO @extschema@.enrichment_queue AS q (image_id)
    VALUES (NEW.image_id)
    ON CONFLICT (image_id, model_id) DO UPDATE
        SET enqueued_at = now(), attempts = 0, next_attempt_at = now(), last_error = NULL, last_sqlstate = NULL,
            dead_at = NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._images_enqueue() IS
  'Trigger: queues a newly stored or replaced image for enrichment (once; a replaced image is queued afresh). '
  'Runs as the extension owner, so that roles allowed to write images need no privilege on the queue.';
REVOKE ALL ON FUNCTION @extschema@._images_enqueue() FROM PUBLIC;
CREATE TRIGGER images_enqueue
    AFTER INSERT OR UPDATE OF content ON @extschema@.images
    FOR EACH ROW WHEN (NEW.content IS NOT NULL)
    EXECUTE FUNCTION @extschema@._images_enqueue();
COMMENT ON TRIGGER images_enqueue ON @extschema@.images IS
  'Queues a stored or replaced image for enrichment.';

-- Replaced content: results that describe the old bytes are dropped (until the new bytes are
-- enriched, an image has no results rather than wrong ones); content set to NULL leaves
-- nothing to classify, so its queue rows go too. SECURITY DEFINER for the same reason as
-- _images_enqueue.
CREATE FUNCTION @extschema@._images_content_replaced()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A worker or enrich() holding the image's queue row may be writing results of the old
    -- bytes: wait for it first (no deadlock: it locks the queue row before any result), so
    -- that the next statement's snapshot sees what it committed, and delete that too.
    PERFORM 1 FROM @extschema@.enrichment_queue WHERE image_id = NEW.image_id FOR UPDATE;
    DELETE FROM @extschema@.enrichments WHERE image_id = NEW.image_id;
    IF NEW.content IS NULL THEN
        DELETE FROM @extschema@.enrichment_queue WHERE image_id = NEW.image_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._images_content_replaced() IS
  'Trigger: when an image''s bytes change, drops the enrichments of the old bytes; when its content becomes NULL, '
  'also its queue rows. Runs as the extension owner.';
REVOKE ALL ON FUNCTION @extschema@._images_content_replaced() FROM PUBLIC;
CREATE TRIGGER images_content_replaced
    AFTER UPDATE OF content ON @extschema@.images
    FOR EACH ROW WHEN (OLD.sha256 IS DISTINCT FROM NEW.sha256)
    EXECUTE FUNCTION @extschema@._images_content_replaced();
COMMENT ON TRIGGER images_content_replaced ON @extschema@.images IS
  'Drops the results of replaced bytes; a NULL content leaves nothing queued.';

CREATE VIEW @extschema@.queue_status AS
SELECT count(*) FILTER (WHERE dead_at IS NULL AND attempts = 0) AS pending,
       count(*) FILTER (WHERE dead_at IS NULL AND attempts > 0) AS in_retry,
       count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
       now() - min(enqueued_at) FILTER (WHERE dead_at IS NULL) AS oldest_age
FROM @extschema@.enrichment_queue;
COMMENT ON VIEW @extschema@.queue_status IS
  'Enrichment queue depth: pending, waiting for a retry, dead-lettered, and the age of the oldest live item.';

-- Wake-up: when a transaction that queued work commits, the background workers' latches
-- are set (not polled). The WHEN clause keeps installations without workers (library not
-- in shared_preload_libraries, so europeana.worker_count is undefined) from loading the
-- inference library into the inserting backend.
CREATE FUNCTION @extschema@._wake_workers()
RETURNS trigger
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'europeana_wake_workers';
COMMENT ON FUNCTION @extschema@._wake_workers() IS
  'Statement trigger on enrichment_queue: wakes the background workers when the current transaction commits '
  '(a latch set from a commit callback; nothing happens on rollback).';
CREATE TRIGGER enrichment_queue_wake
    AFTER INSERT OR UPDATE ON @extschema@.enrichment_queue
    FOR EACH STATEMENT
    WHEN (coalesce(pg_catalog.current_setting('europeana.worker_count', true), '0') <> '0')
    EXECUTE FUNCTION @extschema@._wake_workers();
COMMENT ON TRIGGER enrichment_queue_wake ON @extschema@.enrichment_queue IS
  'Wakes the background workers when the transaction that queued work commits.';

CREATE FUNCTION @extschema@.request_enrichment(model text DEFAULT NULL, only_missing boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    chosen text := coalesce(model, nullif(current_setting('europeana.default_model', true), ''));
    target integer;
    queued bigint;
BEGIN
    IF chosen IS NULL THEN
        RAISE EXCEPTION 'no model given and europeana.default_model is not set in this session'
            USING ERRCODE = '22023', HINT = 'Pass a model name, e.g. SELECT europeana.request_enrichment(''mobilenet_v2_imagenet_float'').';
    END IF;
    target := (@extschema@.register_model(chosen)).model_id;
    INSERT INTO @extschema@.enrichment_queue AS q (image_id, model_id)
    SELECT i.image_id, target
    FROM @extschema@.images AS i
    WHERE i.content IS NOT NULL
      AND (NOT only_missing
           OR NOT EXISTS (SELECT 1 FROM @extschema@.enrichments AS e
                          WHERE e.image_id = i.image_id AND e.model_id = target))
    ON CONFLICT (image_id, model_id) DO UPDATE
        SET enqueued_at = now(), attempts = 0, next_attempt_at = now(), last_error = NULL, last_sqlstate = NULL,
            dead_at = NULL;
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END
$$;
COMMENT ON FUNCTION @extschema@.request_enrichment(text, boolean) IS
  'Queues stored images for enrichment with a model (default: europeana.default_model, registered on the way): '
  'only those it has not enriched yet, or all. Earlier results, of this or other models, are kept until replaced. '
  'Returns the number of images queued; the workers pick them up at commit.';
REVOKE ALL ON FUNCTION @extschema@.request_enrichment(text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._worker_status(
    OUT worker integer, OUT pid integer, OUT device text, OUT state text, OUT model text, OUT batches bigint,
    OUT images bigint, OUT refused bigint, OUT images_per_second double precision, OUT started_at timestamptz,
    OUT last_batch_at timestamptz, OUT heartbeat timestamptz, OUT last_error text, OUT last_error_at timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'europeana_worker_status';
COMMENT ON FUNCTION @extschema@._worker_status() IS
  'One row per background worker slot, read from shared memory; no rows when the library is not preloaded.';
CREATE VIEW @extschema@.worker_status AS SELECT * FROM @extschema@._worker_status();
COMMENT ON VIEW @extschema@.worker_status IS
  'Background enrichment workers: pid (NULL while not running), device, state (starting, waiting_for_extension, '
  'version_mismatch, idle, working, error), model, batches and images done and refused since start, images per '
  'second of busy time, last batch time, heartbeat (every loop, at least every europeana.worker_naptime), last error.';

CREATE PROCEDURE @extschema@.enrich(max_images integer DEFAULT NULL, batch_size integer DEFAULT 16,
                                    model text DEFAULT NULL)
LANGUAGE C
AS 'MODULE_PATHNAME', 'europeana_enrich';
COMMENT ON PROCEDURE @extschema@.enrich(integer, integer, text) IS
  'Enriches queued images in the calling backend, batch by batch: claims with FOR UPDATE SKIP LOCKED, classifies '
  'the batch (parallel decode, one forward), writes the top-3 concepts with provenance and deletes the queue rows in '
  'the same transaction; a bad image is recorded (attempts, last error, next attempt with backoff) and dead-lettered '
  'after 5 attempts without failing its batch. The same path the background workers run.';
REVOKE ALL ON PROCEDURE @extschema@.enrich(integer, integer, text) FROM PUBLIC;

COMMENT ON TABLE @extschema@.enrichments IS
  'Classification results with provenance: image, model (name and version through model_id), rank, concept '
  '(NULL: none of the vocabulary), score, the network''s evidence label, and time. A new model adds rows; it never '
  'overwrites another model''s.';

-------------------------------------------------------------------------------
-- Export
-------------------------------------------------------------------------------
CREATE VIEW @extschema@.dataset AS
SELECT string_agg(c.name, ' ' ORDER BY c.name) AS category,
       string_agg(c.uri, ' ' ORDER BY c.name)  AS skos_concept,
       'http://data.europeana.eu/item' || r.record_id AS "URI",
       r.record_id AS "ID",
       r.is_shown_by AS "URL"
FROM @extschema@.records AS r
JOIN @extschema@.record_concepts AS rc ON rc.record_id = r.record_id
JOIN @extschema@.concepts AS c ON c.concept_id = rc.concept_id
GROUP BY r.record_id, r.is_shown_by;
COMMENT ON VIEW @extschema@.dataset IS
  'The harvested dataset in the pilot''s CSV shape (category, skos_concept, URI, ID, URL): '
  'COPY (SELECT * FROM europeana.dataset) TO STDOUT WITH CSV HEADER.';

-------------------------------------------------------------------------------
-- Harvesting from the Europeana Search API
-------------------------------------------------------------------------------
CREATE PROCEDURE @extschema@.harvest(concept text, max_records integer DEFAULT 3000, reusability text DEFAULT 'open')
LANGUAGE C
AS 'MODULE_PATHNAME', 'europeana_harvest';
COMMENT ON PROCEDURE @extschema@.harvest(text, integer, text) IS
  'Harvests up to max_records image records of a concept (name, any of its URIs, or ''all'' for every concept, in '
  'parallel) from europeana.api_url with cursor paging, committing after every page; records are upserted with the '
  'concept as label. An interrupted run resumes from its cursor. Progress: NOTICE per page and harvest_progress.';
REVOKE ALL ON PROCEDURE @extschema@.harvest(text, integer, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.search(
    query text, max_records integer DEFAULT 100, reusability text DEFAULT NULL, qf text[] DEFAULT NULL,
    OUT record_id text, OUT title text, OUT data_provider text, OUT provider text, OUT country text, OUT rights text,
    OUT type text, OUT year text, OUT is_shown_by text, OUT is_shown_at text, OUT preview_url text,
    OUT concepts text[], OUT item jsonb)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'europeana_search';
COMMENT ON FUNCTION @extschema@.search(text, integer, text, text[]) IS
  'Queries the Europeana Search API live (Solr syntax, optional qf filters and reusability) and returns up to '
  'max_records items as rows; stores nothing. item is the API''s JSON with the API key scrubbed. Not executable by '
  'PUBLIC: every call spends the server''s API key (GRANT EXECUTE to analysts who may).';
REVOKE ALL ON FUNCTION @extschema@.search(text, integer, text, text[]) FROM PUBLIC;

CREATE PROCEDURE @extschema@.fetch_images(max_images integer DEFAULT NULL, concurrency integer DEFAULT 16)
LANGUAGE C
AS 'MODULE_PATHNAME', 'europeana_fetch_images';
COMMENT ON PROCEDURE @extschema@.fetch_images(integer, integer) IS
  'Downloads the image of every harvested record that has none yet (edmIsShownBy, then the thumbnail API) into '
  'europeana.images, concurrently, with a per-host limit, timeouts, a size cap, at most 3 redirects, magic-byte '
  'sniffing and a private-address guard; a failure is recorded on the record (status, HTTP code, reason). '
  'Idempotent and resumable; commits as it goes.';
REVOKE ALL ON PROCEDURE @extschema@.fetch_images(integer, integer) FROM PUBLIC;

CREATE VIEW @extschema@.harvest_progress AS
SELECT r.run_id,
       c.name AS concept,
       r.status,
       r.records_stored,
       r.max_records,
       r.total_results,
       r.pages,
       round(100.0 * r.records_stored / nullif(least(r.max_records::bigint, r.total_results), 0), 1) AS percent,
       round((r.records_stored / nullif(extract(epoch FROM coalesce(r.finished_at, r.updated_at) - r.started_at), 0))::numeric, 1)
           AS records_per_second,
       r.started_at,
       r.updated_at,
       r.finished_at,
       r.error
FROM @extschema@.harvest_runs AS r
LEFT JOIN @extschema@.concepts AS c ON c.concept_id = r.concept_id;
COMMENT ON VIEW @extschema@.harvest_progress IS
  'Harvest runs with progress: records stored against the target, pages, throughput, status and error; visible '
  'while a harvest runs because every page is committed.';

-------------------------------------------------------------------------------
-- Classification
-------------------------------------------------------------------------------
CREATE TYPE @extschema@.classification AS (
    concept       text,
    concept_uri   text,
    score         real,
    label         text,
    label_score   real,
    model_name    text,
    model_version text
);
COMMENT ON TYPE @extschema@.classification IS
  'Best concept of an image (NULL concept: none of the vocabulary, score is then that probability), with the '
  'network''s own top label and its probability as evidence, and the model that answered.';

CREATE FUNCTION @extschema@._classify(
    image bytea, k integer, model text,
    OUT rank integer, OUT concept text, OUT score real, OUT concept_label text, OUT concept_label_score real,
    OUT label text, OUT label_score real, OUT model_name text, OUT model_version text)
RETURNS SETOF record
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'europeana_classify';
COMMENT ON FUNCTION @extschema@._classify(bytea, integer, text) IS
  'Internal: ranked concept scores of one image (LibTorch); use classify_image or classify_image_topk.';

CREATE FUNCTION @extschema@.classify_image(image bytea, model text DEFAULT NULL)
RETURNS @extschema@.classification
LANGUAGE sql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.concept, c.uri, r.score, r.label, r.label_score, r.model_name, r.model_version
    FROM @extschema@._classify(image, 1, model) AS r
    LEFT JOIN @extschema@.concepts AS c ON c.name = r.concept
$$;
COMMENT ON FUNCTION @extschema@.classify_image(bytea, text) IS
  'Classifies an image (JPEG, PNG, TIFF, WebP, BMP, JPEG 2000) into the best vocabulary concept with a TorchScript '
  'model (default: europeana.default_model). NULL image gives NULL; bad bytes raise an error (SQLSTATE 22P03).';

CREATE FUNCTION @extschema@.classify_image_topk(image bytea, k integer DEFAULT 5, model text DEFAULT NULL)
RETURNS TABLE (rank integer, concept text, concept_uri text, score real, label text, label_score real,
               model_name text, model_version text)
LANGUAGE sql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.rank, r.concept, c.uri, r.score, r.concept_label, r.concept_label_score, r.model_name, r.model_version
    FROM @extschema@._classify(image, k, model) AS r
    LEFT JOIN @extschema@.concepts AS c ON c.name = r.concept
    ORDER BY r.rank
$$;
COMMENT ON FUNCTION @extschema@.classify_image_topk(bytea, integer, text) IS
  'The k best concepts of an image, ranked; label is the network output that contributes most to each concept. A '
  'row with NULL concept stands for "none of the vocabulary" (mapped models).';

CREATE FUNCTION @extschema@.image_info(
    image bytea,
    OUT format text, OUT mime_type text, OUT width integer, OUT height integer, OUT complete boolean,
    OUT error text)
RETURNS record
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'europeana_image_info';
COMMENT ON FUNCTION @extschema@.image_info(bytea) IS
  'Format, MIME type and dimensions read from an image''s header without decoding it; complete is false for '
  'visibly truncated data; error says why bytes are not a supported image. Never raises for bad bytes.';

-------------------------------------------------------------------------------
-- Models
-------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.available_models(
    OUT name text, OUT version text, OUT kind text, OUT description text, OUT file text, OUT sha256 text,
    OUT quantized boolean, OUT input_width integer, OUT input_height integer, OUT labels integer,
    OUT concepts text[], OUT error text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'europeana_available_models';
COMMENT ON FUNCTION @extschema@.available_models() IS
  'Models installed in europeana.model_dir with their metadata (weights are not read); error explains a model whose '
  'metadata is unreadable.';

CREATE FUNCTION @extschema@.model_labels(model text DEFAULT NULL,
    OUT label_index integer, OUT label text, OUT concept text)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'europeana_model_labels';
COMMENT ON FUNCTION @extschema@.model_labels(text) IS
  'Every output of a model (default: europeana.default_model) and the concept it maps to (NULL: none).';

CREATE FUNCTION @extschema@.verify_model(model text)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'europeana_verify_model';
COMMENT ON FUNCTION @extschema@.verify_model(text) IS
  'Checks that a model''s weights file exists and matches its sha256; returns the model metadata.';
REVOKE ALL ON FUNCTION @extschema@.verify_model(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.register_model(model text)
RETURNS @extschema@.models
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    meta jsonb := @extschema@.verify_model(model);
    result @extschema@.models;
    unknown text;
BEGIN
    -- results are stored by concept: an output that names no concept would silently read as
    -- "none of the vocabulary"
    SELECT string_agg(DISTINCT pg_catalog.quote_literal(l.concept), ', ') INTO unknown
    FROM @extschema@.model_labels(model) AS l
    WHERE l.concept IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.concepts c WHERE c.name = l.concept);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'model "%" maps outputs to concepts that are not in europeana.concepts: %', model, unknown
            USING ERRCODE = 'undefined_object',
                  HINT = 'Concepts are named as in europeana.concepts (lowercase, e.g. painting). Fix the model''s '
                         'labels or concept map, or add the concept to europeana.concepts first.';
    END IF;
    INSERT INTO @extschema@.models AS m (name, version, kind, file, sha256, quantized, labels, label_concepts, metadata)
    SELECT model, meta->>'version', meta->>'kind', meta->>'file', meta->>'sha256',
           coalesce((meta->>'quantized')::boolean, false),
           array_agg(l.label ORDER BY l.label_index), array_agg(l.concept ORDER BY l.label_index), meta
    FROM @extschema@.model_labels(model) AS l
    ON CONFLICT (name, version) DO UPDATE
        SET kind = excluded.kind, file = excluded.file, sha256 = excluded.sha256, quantized = excluded.quantized,
            labels = excluded.labels, label_concepts = excluded.label_concepts, metadata = excluded.metadata,
            registered_at = now()
    RETURNING * INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@.register_model(text) IS
  'Verifies a model''s weights and records its metadata, labels and concept mapping in europeana.models '
  '(idempotent per name and version); returns the row. Refuses a model whose outputs name concepts that are not '
  'in europeana.concepts.';
REVOKE ALL ON FUNCTION @extschema@.register_model(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Privileges and dump
-------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON @extschema@.concepts, @extschema@.models TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.concepts', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.harvest_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.records', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.record_concepts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.images', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.enrichment_queue', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.enrichments', '');
-- identity sequences, one statement each (each call updates the pg_extension row)
SELECT pg_catalog.pg_extension_config_dump('@extschema@.harvest_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.images_image_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.enrichments_enrichment_id_seq', '');
