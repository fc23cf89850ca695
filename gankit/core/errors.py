"""Every failure a user can cause is a :class:`GankitError`; the CLI prints it on one line."""

from __future__ import annotations


class GankitError(Exception):
    """Base class: a message that says what was wrong and what to do about it."""

    exit_code = 2


class UsageError(GankitError):
    """A command-line argument is missing, unknown or malformed."""


class BadInputError(GankitError):
    """An input file or value cannot be used (missing, empty, corrupt, wrong kind)."""


class CheckpointError(GankitError):
    """A model folder or training checkpoint is missing, corrupt or does not match its config."""


class MissingWeightsError(GankitError):
    """Pretrained weights (VGG19, Inception, a published model) are needed but cannot be had."""


class ConfigError(GankitError):
    """A configuration value, preset or config file is invalid."""


class TrainingDivergedError(GankitError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint is kept."""


class BrokenOutputError(GankitError):
    """A model produced NaN/inf values or an all-black image; nothing is written from it."""


class OutputExistsError(GankitError):
    """An output path holds something gankit must not replace: user files, or the input itself."""
