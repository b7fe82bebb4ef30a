"""certcheck: will every phone accept this server's TLS?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("certcheck")
except PackageNotFoundError:  # running from a checkout without installation
    __version__ = "0.1.0+unknown"
