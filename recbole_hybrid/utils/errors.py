"""The project's one error type for user mistakes; the console entry (``recbole_hybrid/cli/main.py``) prints it as one line.

Every mistake a user can fix (a flag, a setting, a data file, a run folder made with other settings) raises a
subclass of ``UsageError`` whose message names the flag, key, path or run and the way out. ``recbole-hybrid``
catches it in one place and prints ``recbole-hybrid <command>: error: <message>``; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A mistake of the user; the message names what is wrong (flag, key, path or run) and how to fix it."""


class ConfigError(UsageError):
    """A configuration that cannot run; the message names the key and the problem."""


class RunMismatchError(UsageError):
    """A run folder made with other settings than the ones asked for now: resuming it would mix two runs."""


class RunInUseError(UsageError):
    """A run folder that another live process is training: two writers would corrupt its checkpoints."""


class DownloadError(UsageError):
    """A dataset that ``allow_download`` could not fetch (no network, a refused or broken download): the message
    names the dataset, the address and how to provide its files offline."""
