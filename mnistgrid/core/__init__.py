"""Compute: the posts' models, losses and hand-written SGD loop, in pure torch.

May import: the ground (`mnistgrid.spec`, `mnistgrid.errors`) only. Knows nothing of Celery,
SQL, files or the settings: callers hand it specs and tensors and get results and callbacks.
Importing this package imports no torch (`sizes` is plain arithmetic the orchestrator uses).
"""
