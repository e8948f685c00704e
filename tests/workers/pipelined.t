#!/usr/bin/env bash
# The background-worker checks of workers.t with europeana.worker_pipeline = on: batches
# classified on a thread of their own while the worker writes the previous one and claims
# the next, with claims that outlive the claiming transaction (TAP; run with `prove -e bash`).
WORKER_PIPELINE=on exec bash "$(dirname "$0")/workers.t"
