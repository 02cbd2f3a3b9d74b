"""The web view: a read-only web app over the store, live pages of sweeps and jobs.

    mnistgrid serve                      # http://127.0.0.1:8000

app.py puts the app together (routes, login, static files); pages.py serves the HTML pages and
api.py the JSON they poll; sweep_view.py and job_view.py read the store and shape what a page
shows, with the report's own summaries (mnistgrid.report.summary); live.py answers a poll with
what changed since its cursor; charts/ builds the plotly figures; access.py is the login.

May import: everything below the CLI but the worker runtime and the orchestrator (it reads the
store and the report's summaries; it never writes).
"""
