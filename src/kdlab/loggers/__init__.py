"""Loggers by name: where a run's numbers go while it trains (`record.loggers`), one file each."""

from .base import LOGGERS, Logger, build_loggers, check_logger, hyperparameters

__all__ = ["LOGGERS", "Logger", "build_loggers", "check_logger", "hyperparameters"]
