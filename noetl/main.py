"""The old Python command-line interface, kept only to say where it went.

Phase 3 moved the NoETL CLI to Rust: the `noetl` command installed with this
package (``noetl.cli_wrapper``) starts the Rust binary. This module no longer
implements any command.
"""

import sys

MESSAGE = (
    "noetl: the Python command-line interface has been removed; the NoETL CLI is\n"
    "now a Rust binary, started by the `noetl` command that this package installs\n"
    "(run `noetl --help`). To run the server directly: python -m noetl.server --help"
)


def main(argv=None):
    """Print where the CLI went and exit with status 2."""
    sys.stderr.write(MESSAGE + "\n")
    sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
