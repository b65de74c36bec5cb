"""NoETL: workflow server, web UI and the `noetl` command-line tool.

Keep this module import-free: the `noetl` console script imports it before
starting the Rust binary, and every import here is start-up time.
"""

__version__ = "0.1.0"
