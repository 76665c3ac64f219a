"""The subcommands of ``proctoring``: one module each, with ``register`` (its options) and the
handler that calls the services and prints. A new command is a module here, listed in ``__main__``."""
