"""Scheduled jobs: recalculation, daily refresh, leader lock and the calculation log."""
