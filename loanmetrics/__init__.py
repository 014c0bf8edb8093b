"""Loan-officer metrics server: configuration, command line and synthetic data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loanmetrics")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
