"""certcheck: will every phone accept this server's TLS?"""

#: The one place the version is written: pyproject.toml reads it from here.  (Asking
#: importlib.metadata costs 35 ms of every command's start-up.)
__version__ = "0.1.0"
