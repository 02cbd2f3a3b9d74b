"""The web view's plotly figures: each module builds one kind from the report's `SweepData`
(or a job's epochs) and returns a `go.Figure`; plotly.js draws it in the browser."""
