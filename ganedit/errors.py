"""The base class of errors a user can act on, and the command line's exit codes.

Every error caused by input (a config, a file, an option, an output folder) derives from
:class:`GanEditError`: the command line prints its message as ``error:`` lines (one per line of the
message) and exits with :data:`EXIT_INPUT`, without a traceback unless ``--debug``. Plugins raise
subclasses of it (or of the core's subclasses) for their own input problems.
"""

from __future__ import annotations

#: Exit codes of ``ganedit`` (documented in docs/cli.md).
EXIT_OK = 0
EXIT_FAILURE = 1  #: the run itself failed: I/O error, disk full, training divergence
EXIT_INPUT = 2  #: bad input: config, file, option, output folder in use
EXIT_ITEMS_FAILED = 3  #: the run finished but some items (images) failed; see metrics.json
EXIT_INTERRUPTED = 130  #: Ctrl-C
EXIT_BROKEN_PIPE = 2  #: the reader of stdout went away (``ganedit schema | head``): one line, as for bad input


class GanEditError(Exception):
    """An error caused by input that the user can fix; ``str()`` is one line per problem."""
