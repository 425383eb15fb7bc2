"""What a researcher may see of a real-data run's log. No Django here.

A log can quote data: a print of a row, an exception message holding a value. So for an
eyes-off run the researcher sees only:

- of a traceback: the exception's type and the script's own file names, line numbers
  and function names, never the message or the code of the lines;
- of every other line: its words, with every number replaced by "#" and every word that
  is a value of the job's data replaced by "[redacted]".

The full log is kept as an output of the job, for the airlock's human review.
"""

import re
from collections.abc import Iterable

SCRIPT_FRAME = re.compile(r'^\s*File "(/job/[^"]+)", line (\d+), in (\S+)\s*$')
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))\b")
NUMBER = re.compile(r"[-+]?\d[\d_,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
WORD = re.compile(r"[^\s,;:()\[\]{}<>'\"=|]+")
MAX_VALUES = 500_000


def data_vocabulary(frames: Iterable, *, limit: int = MAX_VALUES) -> set[str]:
    """The distinct text forms of the values in these DataFrames (up to `limit`)."""
    vocabulary: set[str] = set()
    for frame in frames:
        for column in frame.columns:
            values = frame[column].dropna()
            if values.dtype.kind in "biufcmM":
                continue  # numbers are masked wholesale; dates too, by their digits
            for value in values.astype(str).unique():
                vocabulary.add(value.strip().casefold())
                vocabulary.update(part.casefold() for part in WORD.findall(value))
                if len(vocabulary) >= limit:
                    return vocabulary
    vocabulary.discard("")
    return vocabulary


def filter_log(text: str, vocabulary: set[str]) -> str:
    """The researcher's view of a real-data run's log (see the module's docstring)."""
    lines = text.splitlines()
    shown: list[str] = []
    in_traceback = False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            shown.append(line)
            continue
        if in_traceback:
            frame = SCRIPT_FRAME.match(line)
            if frame:
                shown.append(f'  File "{frame[1]}", line {frame[2]}, in {frame[3]}')
                continue
            if line.startswith("  "):
                continue  # library frames and source lines
            exception = EXCEPTION_LINE.match(line)
            shown.append(f"{exception[1]}: [message hidden]" if exception else "[exception hidden]")
            in_traceback = False
            continue
        shown.append(_mask(line, vocabulary))
    return "\n".join(shown)


def _mask(line: str, vocabulary: set[str]) -> str:
    def word(match: re.Match) -> str:
        token = match[0]
        if token.casefold() in vocabulary:
            return "[redacted]"
        return NUMBER.sub("#", token)

    return WORD.sub(word, line)
