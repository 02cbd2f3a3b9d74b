"""The queue: the Celery app's configuration, publishing task messages, and the reconcile that
re-sends what the broker lost. The task and queue names are the ground's (`mnistgrid.routing`).

May import: the ground and `db` (the store says which jobs to send). Only `app.make_celery`
builds a Celery app, when called.
"""
