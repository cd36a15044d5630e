"""Subcommands of the ``hf-cser`` CLI, one module each (see :mod:`hf_cser.cli`)."""
