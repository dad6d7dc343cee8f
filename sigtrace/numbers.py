"""Moved to parsers/numbers.py (``sigtrace.parsers.numbers``): number normalisation is shared by the
decoders and the library, so it lives in the lower layer. This re-export keeps old imports working
until their importers are rewritten."""
from .parsers.numbers import *  # noqa: F401,F403
