"""The traceback a report and an issue show: the frames of the failing pass or tool.

A worker keeps the last 6000 characters of ``traceback.format_exception`` (fuzz.judge.pipeline),
which prints a chain cause first. From executorch 1.4 the pass manager re-raises every pass
failure as ``Exception("An error occurred when running the '_ExportedProgramGraphPassAdapter'
pass after the following passes: [...]")``, and its list of some 150 adapter names fills that
tail: the failing pass's own frames are cut off. So here:

* the chain is split into its exceptions, and the one the signature names is kept (its type
  and the first line of its message: the root cause fuzz.judge.signature.root_cause found);
* its frames start after the innermost *dispatcher*: the pass infrastructure that called the
  failing pass's ``call`` (torch.fx's and executorch's pass managers and pass bases), or
  executorch's backend dispatch that called a backend's ``preprocess``, and through it vela or
  model-converter. Without a dispatcher (a failure while the program runs) the innermost
  frames are kept;
* caret lines go, and paths lose their machine-specific prefix (``.../site-packages/``).

When the stored text no longer holds that exception, the verified repro is run once more
(:func:`run_for_traceback`): its interpreter prints the whole chain.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.judge.signature import condense_pass_lists

_CHAIN = re.compile(r"\n\s*\n(?:The above exception was the direct cause of the following exception:"
                    r"|During handling of the above exception, another exception occurred:)\s*\n\s*\n")
_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line \d+, in (?P<func>.*)$')
_CARETS = re.compile(r"^\s*[\^~]+\s*$")
#: (path suffix, function or None for any): frames that hand control to a pass or a backend
_DISPATCHERS = (
    ("torch/fx/passes/infra/pass_base.py", None),
    ("torch/fx/passes/infra/pass_manager.py", None),
    ("executorch/exir/pass_manager.py", None),
    ("executorch/exir/pass_base.py", "__call__"),
    ("executorch/backends/arm/_passes/arm_pass_manager.py", None),
    ("executorch/exir/backend/backend_details.py", None),
)
#: frames kept when no dispatcher is on the stack
INNERMOST = 10
#: exception text kept (a message may carry a whole graph)
MAX_EXCEPTION = 2500
#: machine-specific path prefixes: site-packages, the standard library, the repro's scratch directory
_PATHS = ((re.compile(r'(File ")[^"]*/site-packages/'), r"\1"), (re.compile(r'(File ")[^"]*/lib/python3\.\d+/'), r"\1"),
          (re.compile(r'(File ")[^"]*/(repro\.py")'), r"\1\2"))


@dataclass
class _Exception:
    frames: list[list[str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @property
    def header(self) -> str:
        return self.text[0] if self.text else ""


def _parse(chunk: str) -> _Exception:
    """One exception of a chain: its frames (each a ``File`` line and its source lines), then
    its text. A chunk cut at the front by the worker's limit starts at its first frame."""
    lines = chunk.splitlines()
    first = next((i for i, ln in enumerate(lines) if _FRAME.match(ln)), None)
    exc = _Exception()
    if first is None:
        exc.text = [ln for ln in lines if ln.strip() and not ln.startswith("Traceback (")]
        return exc
    i = first
    while i < len(lines) and (_FRAME.match(lines[i]) or lines[i].startswith("    ")):
        if _FRAME.match(lines[i]):
            exc.frames.append([lines[i]])
        elif not _CARETS.match(lines[i]):
            exc.frames[-1].append(lines[i])
        i += 1
    exc.text = lines[i:]
    return exc


def _names(exc: _Exception, exc_type: str, first_line: str) -> bool:
    name, _, message = exc.header.partition(":")
    return name.strip().rsplit(".", 1)[-1] == exc_type and message.strip() == first_line.strip()


def _start(frames: list[list[str]]) -> tuple[int, str]:
    """Index of the first frame to show, after the innermost dispatcher, and what is left out."""
    for i in range(len(frames) - 1, -1, -1):
        m = _FRAME.match(frames[i][0])
        if any(m["file"].endswith(path) and func in (None, m["func"]) for path, func in _DISPATCHERS):
            return i + 1, "the pass manager or backend dispatch, and what called it"
    return max(0, len(frames) - INNERMOST), "no pass or backend dispatch on the stack: the innermost are shown"


def _tidy(text: str) -> str:
    for pattern, repl in _PATHS:
        text = pattern.sub(repl, text)
    return text


def failing_frames(text: str, exc_type: str, message: str) -> str | None:
    """The frames of the failing pass or tool and the exception's text, from a traceback's
    text; None when the text does not hold the exception ``exc_type: message``."""
    first_line = (message.strip().splitlines() or [""])[0]
    found = [e for e in map(_parse, _CHAIN.split(text)) if _names(e, exc_type, first_line)]
    if not found:
        return None
    exc = max(found, key=lambda e: len(e.frames))  # a re-raised exception carries the longest stack
    start, left_out = _start(exc.frames)
    shown = [ln for frame in exc.frames[start:] for ln in frame]
    text_lines = "\n".join(exc.text).strip()
    if len(text_lines) > MAX_EXCEPTION:
        text_lines = text_lines[:MAX_EXCEPTION] + " [...]"
    head = "Traceback (most recent call last):"
    if start:
        head += f"\n  [... {start} outer frames left out: {left_out} ...]"
    return _tidy("\n".join([head, *shown, text_lines]))


def condensed(text: str) -> str:
    """A stored tail that lost the failing frames, made readable: the line the cut went
    through, caret lines and long lists of pass names go."""
    lines = text.splitlines()
    if lines and not lines[0].startswith("Traceback ("):
        lines = lines[1:]
    text = "\n".join(ln for ln in lines if not _CARETS.match(ln))
    return _tidy(condense_pass_lists(text)).strip()


def exception_type(signature: str) -> str:
    """The exception type a crash signature names (``<target>/<stage>/<Type>@<where>: ...``)."""
    m = re.match(r"^[^/]+/[^/]+/(\w+)@", signature)
    return m.group(1) if m else ""


def run_for_traceback(script: str, python: str, timeout: float = 600.0) -> str:
    """Run a repro once as its verification does (``python -I`` in an empty directory) and
    return the traceback its interpreter printed, or "" when it printed none."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repro.py"
        path.write_text(script)
        try:
            proc = subprocess.run([python, "-I", str(path)], cwd=tmp, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            return ""
    start = proc.stderr.find("Traceback (most recent call last):")
    return proc.stderr[start:] if start >= 0 else ""
