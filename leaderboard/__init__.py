"""Leaderboard: submission archives, validation by recomputation, a SQLite store, ranking,
a static site and a token-authenticated submission server (docs/leaderboard.md)."""
