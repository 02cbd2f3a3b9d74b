"""The queue: the Celery app's configuration, task and queue names, publishing task messages,
and the reconcile that re-sends what the broker lost.

May import: the ground and `db` (the store says which jobs to send). Importing a name from
`routing` builds no Celery app; only `app.make_celery` does, when called.
"""
