"""Leaderboard: submission validation, storage and ranking."""
