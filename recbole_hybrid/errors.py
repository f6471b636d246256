"""The error type of user mistakes (settings, flags), shared by every layer without import cycles."""


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and the problem."""
