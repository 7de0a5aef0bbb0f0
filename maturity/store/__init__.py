"""The store: schema, engines, migrations, the one writer and the reads, one module a concern.

Schema: ``schema`` (the Core tables, no ORM) and ``tables`` (the mapped classes over them).

Reads: ``export`` (the exportable tables), ``status`` (collection status), ``inputs`` (the
scoring inputs as frames), ``scores`` (stored snapshots and metric values for pages, reports
and the API), ``version`` (the store version caches key by) and ``logins`` (browser logins).
"""
