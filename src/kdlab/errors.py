"""User-facing errors: the CLI prints them as one line and exits with status 2."""


class KdlabError(Exception):
    """A mistake in the user's input (config, data, paths): says what is wrong and what is expected."""


class ConfigError(KdlabError):
    pass


class DataError(KdlabError):
    pass


class RunError(KdlabError):
    """A run directory, checkpoint or teacher that cannot be used as asked."""
