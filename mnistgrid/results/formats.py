"""The file formats `mnistgrid export` writes: here alone, so that its `--help` names them
without importing the reader."""

FORMATS = ("csv", "jsonl", "parquet")
