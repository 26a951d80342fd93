"""Stored feedback: the answers people rated, and their ratings, kept to improve the evals.

- `store.py`: the two tables (`answers`, `feedback`) in SQLite (default,
  `<data_dir>/feedback.sqlite3`) or Postgres (`FIBRO_DATABASE_URL`), through SQLAlchemy 2.
- `observer.py`: the run observer that records each finished answer, masked, and never the words
  of a crisis or emergency exchange.
- `limit.py`: the in-memory per-client rate limit of `POST /v1/feedback`.
- `export.py`: rated-down answers as draft eval cases for `evals/`.
- `cli.py`: `fibro feedback list` and `fibro feedback export`.

Nothing here is imported by `assistant` at start-up unless the feedback store is used, so the
SQLAlchemy import stays out of `fibro --help`.
"""
