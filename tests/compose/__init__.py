"""The compose layer: the project's docker-compose.yml built and run for real, on a Docker
engine the harness starts when none answers (engine.py).

    python -m pytest -m compose tests/compose
"""
