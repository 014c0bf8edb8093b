"""Loan-officer metrics server: configuration, command line and synthetic data."""
