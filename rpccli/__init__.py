"""rpccli: call uWSGI RPC functions from the command line, a shell, scripts and Python."""

__version__ = "0.1.0"
