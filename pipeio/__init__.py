"""Shared, dependency-light plumbing for the files passed between pipeline stages.

Both `microdualnet` (torch side) and `analysis` (statistics side) import this package, so it
must never import torch or any other heavy library.
"""

from pipeio.atomic import atomic_path, atomic_write_text, staged_directory
from pipeio.errors import InputError
from pipeio.provenance import write_provenance

__all__ = [
    "InputError",
    "atomic_path",
    "atomic_write_text",
    "staged_directory",
    "write_provenance",
]
