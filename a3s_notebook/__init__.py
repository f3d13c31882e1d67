"""a3s_notebook: LLM agent sessions as first-class citizens of Jupyter."""

from a3s_notebook._version import __version__

__all__ = ["__version__"]
