"""Text files as every reader sees them: UTF-8 (a BOM is allowed), lines ended by LF, CRLF or a lone CR.

A file in another encoding is refused, never guessed: the error names the file, the line and byte
offset, and the `iconv` command that converts it (UTF-16 and UTF-32 are recognised by their
byte-order mark or their NUL bytes; any other non-UTF-8 byte gets the latin-1 command).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

# A lone CR ends a line too (old Mac files): reading it as part of a line would glue sentences together.
LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")

_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (b"\xff\xfe\x00\x00", "UTF-32", "utf-32"),
    (b"\x00\x00\xfe\xff", "UTF-32", "utf-32"),
    (b"\xff\xfe", "UTF-16", "utf-16"),
    (b"\xfe\xff", "UTF-16", "utf-16"),
)


class DataFormatError(ValueError):
    """A data file that cannot be read as asked; the message names file, line, text and fix."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line_no: int | None = None,
                 problem: str = "", fix: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.line_no = line_no
        self.problem = problem or message
        self.fix = fix


def file_error(path, line_no: int, text: str | None, problem: str, fix: str) -> DataFormatError:
    """The project's one error layout: `path:line: problem`, the offending line, then `fix: ...`."""
    shown = f"\n  line {line_no}: {text!r}" if text is not None else ""
    return DataFormatError(f"{path}:{line_no}: {problem}{shown}\n  fix: {fix}", path=path, line_no=line_no,
                           problem=problem, fix=fix)


def split_lines(text: str) -> list[str]:
    """Lines without their ends; a final line end does not start another line.

    Only LF, CRLF and CR end a line: str.splitlines would also break inside tokens holding
    U+2028, U+0085 or \\x1c.
    """
    lines = LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _line_of(raw: bytes, offset: int) -> int:
    return len(_LINE_END_BYTES.findall(raw, 0, offset)) + 1


def _convert(source: str, suffix: str = "") -> str:
    return f"re-encode the file as UTF-8, e.g. `iconv -f {source} -t utf-8 in{suffix} > out{suffix}`"


def _utf16_without_bom(raw: bytes) -> str | None:
    """'utf-16le' / 'utf-16be' when the NUL bytes sit where UTF-16 puts them for ASCII text."""
    sample = raw[:4096]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= max(1, len(sample) // 4) and even == 0:
        return "utf-16le"
    if even >= max(1, len(sample) // 4) and odd == 0:
        return "utf-16be"
    return None


def decode_text(raw: bytes, path: str | os.PathLike) -> str:
    """The bytes of `path` as text; DataFormatError (file, line, byte offset, iconv fix) if not UTF-8."""
    suffix = Path(path).suffix
    for bom, name, iconv in _BOMS:
        if raw.startswith(bom):
            raise file_error(path, 1, None, f"the file is {name} (it starts with the byte-order mark "
                             f"{bom.hex(' ')}), not UTF-8", _convert(iconv, suffix))
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        wide = _utf16_without_bom(raw)
        if wide is not None:
            raise file_error(path, _line_of(raw, offset), None, f"the file looks like {wide.upper()} text without a "
                             f"byte-order mark (NUL bytes between the letters, first at byte offset {offset}), not "
                             f"UTF-8", _convert(wide, suffix))
        raise file_error(path, _line_of(raw, offset), None, f"NUL byte at byte offset {offset}: this is not a text file "
                         "(or it is damaged)", "point at the text file, or remove the NUL bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_no = _line_of(raw, error.start)
        line_start = max(raw.rfind(b"\n", 0, error.start), raw.rfind(b"\r", 0, error.start)) + 1
        line_end = _LINE_END_BYTES.search(raw, error.start)
        bad_line = raw[line_start : line_end.start() if line_end else len(raw)]
        raise file_error(
            path, line_no, None,
            f"byte {raw[error.start]:#04x} at byte offset {error.start} is not valid UTF-8 ({error.reason}) "
            f"in line {bad_line!r}",
            _convert("latin1", suffix) + " if the file is latin-1 (use the file's real encoding otherwise)",
        ) from None


def read_text(path: str | os.PathLike) -> str:
    """The whole file as text (see `decode_text`); a clear error for a missing file or a folder."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"expected a data file but {path} is a folder") from None
    return decode_text(raw, path)


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The file's lines as text, without line ends (LF, CRLF or lone CR)."""
    return split_lines(read_text(path))
