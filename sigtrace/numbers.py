"""Moved to parsers/numbers.py (``sigtrace.parsers.numbers``): number normalisation is shared by the
decoders and the library, so it lives in the lower layer. This re-export keeps old imports working."""
from .parsers.numbers import *  # noqa: F401,F403
from .parsers.numbers import _classify, _international, _isdigits, _national  # noqa: F401
