"""The web view: a read-only web app over the store, live pages of sweeps and jobs.

    mnistgrid serve                      # http://127.0.0.1:8000

app.py puts the app together (routes, login, errors); pages.py serves the HTML pages and api.py
the JSON they poll; sweep_list.py, sweep_view.py, job_view.py and compare_view.py (sweeps side
by side, through mnistgrid/results) read the store and shape what each page shows, with the
report's own summaries (sweep_data.py turns the store's light read into the report's
`SweepData`); rows.py is a job as a table row; live.py answers a poll with
what changed since its cursor; charts/ builds the plotly figures; access.py is the login;
links.py and files.py the report's files and Flower; templates/ and static/ the pages.

May import: everything below the CLI but the worker runtime and the orchestrator (it reads the
store and the report's summaries; it never writes).
"""
