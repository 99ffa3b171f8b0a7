"""Errors in the words of whoever called.

A bad argument is named differently by each caller: ``mbh_msun`` in Python, ``--mbh`` on the
command line, a column in a catalogue. :class:`ArgumentError` keeps the names as fields of its
message, so ``str(error)`` reads in the library's names and :meth:`ArgumentError.worded` in the
caller's, without rewriting text.

>>> err = ArgumentError("{mbh_msun} must be finite and >= 0, got -1.0")
>>> str(err)
'mbh_msun must be finite and >= 0, got -1.0'
>>> err.worded({"mbh_msun": "--mbh"})
'--mbh must be finite and >= 0, got -1.0'
"""

from __future__ import annotations

import string
from collections.abc import Mapping

__all__ = ["ArgumentError", "literal"]


def literal(text: str) -> str:
    """``text`` as literal text of a template (its braces doubled)."""
    return str(text).replace("{", "{{").replace("}", "}}")


class ArgumentError(ValueError):
    """A bad value of a named argument, with the names as fields of the message.

    Parameters
    ----------
    template : str
        The message; ``{name}`` fields stand for argument names or phrases a caller words in its
        own way (values are formatted in already; :func:`literal` escapes free text).
    **library_words : str
        How the library words a field that is not simply its own name (default: the name), e.g.
        ``extrapolate_hint="Pass extrapolate=True to evaluate anyway"``.
    """

    def __init__(self, template: str, **library_words: str):
        self.template = template
        self.library_words = library_words
        self.fields = tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)
        super().__init__(self.worded({}))

    def worded(self, words: Mapping[str, str]) -> str:
        """The message with each field in ``words`` (a caller's names), the others in the
        library's."""
        return self.template.format(
            **{f: words.get(f, self.library_words.get(f, f)) for f in self.fields}
        )
