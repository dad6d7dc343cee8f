"""Moved to parsers/capture.py (``sigtrace.parsers.capture``): the capture reader is shared by the
decoders' fast path and the library, so it lives in the lower layer. This re-export keeps old imports
working until their importers are rewritten."""
from .parsers.capture import *  # noqa: F401,F403
