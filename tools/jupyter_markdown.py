"""Turn a chapter's MyST Markdown into plain Jupyter Markdown, so its notebook reads like the book.

Why: Colab and Jupyter render CommonMark and ``$...$`` math, not MyST. Left as it is, a twin shows
``{glue:text}`name``` where the web page shows a number. So each Markdown cell of a twin is
rewritten into what the web page shows, with the same words, numbers and equation numbers:

- ``{glue:text}`name:fmt``` becomes the value, formatted by MyST-NB's own formatter;
- a labelled ``$$ ... $$ (label)`` gets its number as ``\\tag{n}``, and ``{eq}`label``` becomes
  ``(n)`` linked to the equation in the web book; ``{ref}``, ``{numref}`` and ``{doc}`` become
  their titles (``Chapter 1``, ``Exercise 2``) linked to the web book;
- ``{cite:p}`` and ``{cite:t}`` become ``[Lin et al., 2014]`` and ``Lin et al. [2014]``, as in the
  web book, linked to its bibliography;
- ``exercise`` and ``solution`` directives become headed sections, admonitions (``note``, ``tip``,
  ``warning`` ...) and asides (``margin``, ``sidebar``, ``topic``) become block quotes, a
  ``dropdown`` an HTML ``<details>``; targets ``(label)=`` and comments ``% ...`` are dropped;
- with ``collapse_solutions`` (what the twins use), a worked solution is an HTML ``<details>``
  block instead of a headed section, collapsed until the reader opens it, as the web page's
  dropdown is: a gated solution (``{solution-start}`` ... ``{solution-end}``) spans cells, so its
  Markdown is collapsed cell by cell (the code cells between are hidden by ``notebooks.py``).

Anything else that MyST would interpret (an unknown role or directive, a substitution, an
amsmath environment) raises :class:`ConversionError`: a twin never shows raw MyST markup.
:func:`myst_markup` finds such markup in converted text; the tests run it on every twin.

Numbering follows the web book: equations and exercises are numbered through the whole book, in
the order of the table of contents (so the book is indexed first, page by page, in that order).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath


class ConversionError(ValueError):
    """MyST markup that has no plain-Markdown form here (yet); the message says where."""


@dataclass(frozen=True)
class Target:
    """Something a cross-reference can point at: a section, an equation or an exercise."""

    page: str  # document name, e.g. "book/01_pointwise"
    anchor: str  # the HTML id in the web page
    title: str  # what {ref} shows: a section's heading, "Exercise 2", "(1)"
    number: int | None = None  # equations and exercises


@dataclass(frozen=True)
class Citation:
    """One entry of the bibliography, as author-year citations show it."""

    authors: str  # "Lin et al.", "Ng", "Howard and Zhu"
    year: str


@dataclass
class _Numbering:
    equations: int = 0
    exercises: int = 0


@dataclass
class Book:
    """What converting one page needs to know about the whole book."""

    base_url: str  # the published web book, ending in "/"
    bibliography_page: str  # document name of the page with the bibliography
    targets: dict[str, Target] = field(default_factory=dict)  # by label, book-wide
    citations: dict[str, Citation] = field(default_factory=dict)  # by BibTeX key
    titles: dict[str, str] = field(default_factory=dict)  # page -> its first heading
    # Equations and exercises are numbered through the whole book, in the order of the table of
    # contents: how many come before each page, and how many the pages indexed so far hold.
    starts: dict[str, _Numbering] = field(default_factory=dict)
    numbered: _Numbering = field(default_factory=_Numbering)

    def url(self, page: str, anchor: str = "") -> str:
        """The web book's URL of ``page`` (and of ``anchor`` in it)."""
        return f"{self.base_url}{page}.html" + (f"#{anchor}" if anchor else "")


# --- Patterns --------------------------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
DIRECTIVE_INFO = re.compile(r"^\{(?P<name>[^}\s]+)\}\s*(?P<argument>.*)$")
TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
MATH_CLOSE_LABEL = re.compile(r"^(?P<math>.*?)\$\$\s*(?:\((?P<label>[^()\s]+)\))?\s*$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
# A role, or an inline code span (kept verbatim); whichever starts first wins.
INLINE = re.compile(
    r"(?P<role>\{(?P<name>[A-Za-z][\w:+.-]*)\}(?P<ticks>`+)(?P<content>.+?)(?P=ticks))"
    r"|(?P<code>(?P<code_ticks>`+).+?(?P=code_ticks))"
)
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^()\s]+)\)")
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<label>[^<>]+)>$")
# A collapsed block with nothing in it (a gated solution's end, alone in its cell).
EMPTY_DETAILS = re.compile(r"<details><summary>[^<>]*</summary>\s*</details>")

ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
}


def _fence_closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
    )


def _split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's ``:key: value`` (or ``---`` YAML) options, and the rest of its body."""
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":
        end = next((i for i in range(1, len(body)) if body[i].strip() == "---"), None)
        if end is None:
            raise ConversionError("a directive's option block (---) is not closed")
        for line in body[1:end]:
            key, _, value = line.partition(":")
            options[key.strip()] = value.strip()
        return options, body[end + 1 :]
    index = 0
    while index < len(body) and (match := OPTION.match(body[index])):
        options[match["key"]] = match["value"].strip()
        index += 1
    return options, body[index:]


def _strip_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


# --- Indexing the book: what the references point at -----------------------------------------


def _prose_lines(text: str) -> list[str]:
    """The lines of a MyST page outside its front matter and code cells."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        lines = lines[end + 1 :]
    prose, fence = [], None
    for line in lines:
        if fence:
            if _fence_closes(line, fence):
                fence = None
            continue
        match = FENCE.match(line)
        if match and match["info"].strip().startswith("{code-cell}"):
            fence = match["fence"]
            continue
        prose.append(line)
    return prose


def _fenced(lines: list[str], index: int, page: str) -> tuple[re.Match, list[str], int]:
    """The fence opening at ``lines[index]``, its body, and the index after its closing line."""
    fence = FENCE.match(lines[index])
    end = index + 1
    while end < len(lines) and not _fence_closes(lines[end], fence["fence"]):
        end += 1
    if end == len(lines):
        raise ConversionError(f"{page}: unclosed fence {lines[index].strip()!r}")
    return fence, lines[index + 1 : end], end + 1


def _math_block(lines: list[str], index: int, page: str) -> tuple[list[str], str | None, int]:
    """The ``$$`` block starting at ``lines[index]``: its body, its label, the index after it."""
    first = lines[index].strip()[2:]
    if "$$" in first:  # $$ x = y $$ (label), on one line
        match = MATH_CLOSE_LABEL.match(first)
        return [match["math"]], match["label"], index + 1
    body = [first] if first.strip() else []
    for end in range(index + 1, len(lines)):
        if "$$" in lines[end]:
            match = MATH_CLOSE_LABEL.match(lines[end])
            if match is None:
                raise ConversionError(f"{page}: text after a closing $$: {lines[end]!r}")
            if match["math"].strip():
                body.append(match["math"])
            return _strip_blank(body), match["label"], end + 1
        body.append(lines[end])
    raise ConversionError(f"{page}: unclosed $$ math block")


def index_page(book: Book, page: str, text: str) -> None:
    """Add what ``page`` defines (its title, section labels, equations, exercises) to ``book``.

    Index the pages in the order of the table of contents: the numbers continue from page to page.
    """
    book.starts[page] = _Numbering(book.numbered.equations, book.numbered.exercises)
    _index_lines(book, page, _prose_lines(text), book.numbered)


def _index_lines(book: Book, page: str, lines: list[str], numbering: _Numbering) -> None:
    pending_label = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if FENCE.match(line):
            fence, body, index = _fenced(lines, index, page)
            directive = DIRECTIVE_INFO.match(fence["info"].strip())
            if directive is None:
                continue
            options, content = _split_options(body)
            if directive["name"] == "exercise" and "nonumber" not in options:
                numbering.exercises += 1
                if "label" in options:
                    number = numbering.exercises
                    book.targets[options["label"]] = Target(
                        page, options["label"], f"Exercise {number}", number
                    )
            if directive["name"] == "math" and "label" in options:
                numbering.equations += 1
                book.targets[options["label"]] = _equation_target(page, options["label"], numbering)
            _index_lines(book, page, content, numbering)
            pending_label = None
            continue
        if match := TARGET.match(line):
            pending_label = match["label"]
        elif match := HEADING.match(line):
            title = convert_inline(match["title"], lambda *_: None, strict=False)
            book.titles.setdefault(page, title)
            if pending_label:
                book.targets[pending_label] = Target(page, pending_label, title)
            pending_label = None
        elif line.lstrip().startswith("$$"):
            _, label, index = _math_block(lines, index, page)
            if label:
                numbering.equations += 1
                book.targets[label] = _equation_target(page, label, numbering)
            continue
        elif line.strip():
            pending_label = None
        index += 1


def _equation_target(page: str, label: str, numbering: _Numbering) -> Target:
    number = numbering.equations
    return Target(page, f"equation-{label}", f"({number})", number)


# --- Converting a page ----------------------------------------------------------------------


@dataclass
class PageConverter:
    """Converts the Markdown cells of one page, in order (equation and exercise numbers count
    across cells)."""

    book: Book
    page: str
    glued: Mapping[str, str]  # glue name -> the text/plain that MyST-NB stores
    format_glued: Callable[[str, str], str]  # (text/plain, format spec) -> text
    # Worked solutions as collapsed <details> blocks (the twins) rather than headed sections.
    collapse_solutions: bool = False
    equations: int = 0  # how many the book holds up to here
    exercises: int = 0
    # The title of the gated solution that is open (from {solution-start} to {solution-end}),
    # which may span several cells; None outside one.
    open_solution: str | None = None

    def __post_init__(self) -> None:
        start = self.book.starts.get(self.page, _Numbering())
        self.equations, self.exercises = start.equations, start.exercises

    def convert(self, text: str) -> str:
        """The Jupyter Markdown of one Markdown cell's ``text``."""
        continued = self.collapse_solutions and self.open_solution is not None
        lines = [*self._summary(f"{self.open_solution} (continued)")] if continued else []
        lines += self._blocks(text.splitlines())
        if self.collapse_solutions and self.open_solution is not None:
            lines += ["", "</details>"]  # an HTML block cannot span cells: closed in each one
        converted = "\n".join(lines).strip("\n")
        converted = EMPTY_DETAILS.sub("", converted).strip("\n")
        converted = re.sub(r"\n{3,}", "\n\n", converted)
        found = myst_markup(converted)
        if found:
            raise ConversionError(f"{self.page}: MyST markup left after conversion: {found}")
        return converted

    # blocks

    def _blocks(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        index = 0
        while index < len(lines):
            line = lines[index]
            if FENCE.match(line):
                fence, body, after = _fenced(lines, index, self.page)
                directive = DIRECTIVE_INFO.match(fence["info"].strip())
                if directive:
                    out += self._directive(directive["name"], directive["argument"], body)
                else:
                    out += lines[index:after]  # a plain code block, verbatim
                index = after
                continue
            if TARGET.match(line) or line.startswith("%"):
                index += 1  # a label's target, or a MyST comment: nothing to show
                continue
            if line.strip() == "+++" or line.startswith("+++ "):
                index += 1
                continue
            if re.match(r"^\s*\\begin\{", line):
                raise ConversionError(
                    f"{self.page}: amsmath environment {line.strip()!r} outside $$: "
                    "wrap it in $$ ... $$ (tools/jupyter_markdown.py converts those)"
                )
            if line.lstrip().startswith("$$"):
                index = self._math(lines, index, out)
                continue
            out.append(self._inline(line))
            index += 1
        return out

    @staticmethod
    def _summary(title: str) -> list[str]:
        # The blank line after the summary lets Jupyter and Colab render the Markdown inside.
        return ["", f"<details><summary>{title}</summary>", ""]

    def _math(self, lines: list[str], index: int, out: list[str]) -> int:
        body, label, after = _math_block(lines, index, self.page)
        out += self._equation(body, label)
        return after

    def _equation(self, body: list[str], label: str | None) -> list[str]:
        body = _strip_blank(body)
        if label is None:
            return ["$$", *body, "$$"]
        self.equations += 1
        target = self.book.targets.get(label)
        if target is None or target.page != self.page or target.number != self.equations:
            raise ConversionError(f"{self.page}: equation {label!r} was not indexed in order")
        return ["$$", *body, f"\\tag{{{self.equations}}}", "$$"]

    def _directive(self, name: str, argument: str, body: list[str]) -> list[str]:
        options, content = _split_options(body)
        if name == "exercise":
            if "nonumber" in options:
                title = "Exercise"
            else:
                self.exercises += 1
                title = f"Exercise {self.exercises}"
                target = self.book.targets.get(options.get("label", ""))
                if target and target.title != title:
                    raise ConversionError(f"{self.page}: exercise {target.anchor!r} out of order")
            if argument.strip():
                title += f" ({self._inline(argument.strip())})"
            return ["", f"#### {title}", "", *self._blocks(content), ""]
        if name in ("solution", "solution-start"):
            label = argument.strip()
            target = self.book.targets.get(label)
            if target is None:
                raise ConversionError(f"{self.page}: solution to unknown exercise {label!r}")
            title = f"Solution to {target.title}"
            if not self.collapse_solutions:
                return ["", f"#### {title}", "", *self._blocks(content), ""]
            if name == "solution":  # the whole solution is in the directive
                return [*self._summary(title), *self._blocks(content), "", "</details>", ""]
            self.open_solution = title
            return [*self._summary(title), *self._blocks(content)]
        if name == "solution-end":
            was_open, self.open_solution = self.open_solution, None
            return ["", "</details>", ""] if self.collapse_solutions and was_open else []
        if name in ADMONITIONS or name == "admonition":
            if name == "admonition":
                if not argument.strip():
                    raise ConversionError(f"{self.page}: an admonition needs a title")
                title = self._inline(argument.strip())
            else:
                title = ADMONITIONS[name]
                if argument.strip():
                    content = [argument.strip(), *content]
            inner = _strip_blank(self._blocks(content))
            quoted = [f"> **{title}**", ">"] + [f"> {line}".rstrip() for line in inner]
            return ["", *quoted, ""]
        if name in ("margin", "sidebar", "topic", "epigraph"):  # asides: quoted, with any title
            inner = _strip_blank(self._blocks(content))
            title = [f"> **{self._inline(argument.strip())}**", ">"] if argument.strip() else []
            return ["", *title, *(f"> {line}".rstrip() for line in inner), ""]
        if name == "dropdown":  # Jupyter renders HTML <details> as a collapsed section
            summary = self._inline(argument.strip()) if argument.strip() else "Show"
            inner = _strip_blank(self._blocks(content))
            return ["", f"<details><summary>{summary}</summary>", "", *inner, "", "</details>", ""]
        if name == "figure":  # the web book's copy of the image, then the caption
            return self._figure(argument.strip(), options, content)
        if name == "math":
            return self._equation(content, options.get("label"))
        if name in ("code", "code-block"):
            return [f"```{argument.strip()}", *content, "```"]
        raise ConversionError(
            f"{self.page}: directive {{{name}}} has no plain-Markdown form in "
            "tools/jupyter_markdown.py; add one there (and a test) or use another directive"
        )

    def _figure(self, source: str, options: dict[str, str], content: list[str]) -> list[str]:
        """A figure as Markdown: the image from the web book, whose builder copies every image
        to ``_images/`` under its own name (Colab shows no image from the notebook's folder),
        with its alt text, then the caption in italics."""
        alt = options.get("alt", "").strip()
        if not alt:
            raise ConversionError(f"{self.page}: figure {source!r} has no :alt: text")
        if "[" in alt or "]" in alt or not source or "/" not in source.strip("/"):
            raise ConversionError(f"{self.page}: figure {source!r}: give a path under figures/ "
                                  "and alt text without brackets")
        url = f"{self.book.base_url}_images/{PurePosixPath(source).name}"
        caption = _strip_blank(self._blocks(content))
        shown = [f"*{' '.join(line.strip() for line in caption)}*"] if caption else []
        return ["", f"![{alt}]({url})", "", *shown, ""]

    # inline

    def _inline(self, text: str) -> str:
        return convert_inline(text, self._role, strict=True, link=self._link)

    def _link(self, text: str, target: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return f"[{text}]({target})"
        path, _, anchor = target.partition("#")
        if not path.endswith((".md", ".ipynb")):
            raise ConversionError(f"{self.page}: relative link {target!r} would break in a twin")
        page = str(PurePosixPath(self.page).parent / PurePosixPath(path).with_suffix(""))
        return f"[{text}]({self.book.url(page, anchor)})"

    def _role(self, name: str, content: str) -> str:
        if name == "glue":  # MyST-NB shows the value's text/plain as it is
            if content not in self.glued:
                raise ConversionError(f"{self.page}: no glued value named {content!r}")
            return self.glued[content]
        if name == "glue:text":
            key, colon, spec = content.rpartition(":")  # name:format, as MyST-NB splits it
            if not colon:
                key, spec = content, ""
            if "::" in content:
                raise ConversionError(f"{self.page}: glue from another page: {content}")
            if key not in self.glued:
                raise ConversionError(f"{self.page}: no glued value named {key!r} (was it glued?)")
            return self.format_glued(self.glued[key], spec or "s")
        if name == "math":
            return f"${content}$"
        if name in ("sub", "sup", "kbd"):
            return f"<{name}>{content}</{name}>"
        if name in ("eq", "ref", "numref", "doc"):
            return self._reference(name, content)
        if name in ("cite", "cite:p", "cite:t"):
            return self._citation("t" if name == "cite:t" else "p", content)
        raise ConversionError(
            f"{self.page}: role {{{name}}} has no plain-Markdown form in "
            "tools/jupyter_markdown.py; add one there (and a test) or use another role"
        )

    def _reference(self, name: str, content: str) -> str:
        explicit = EXPLICIT_TITLE.match(content)
        title, label = (explicit["title"], explicit["label"]) if explicit else (None, content)
        if name == "doc":
            page = str(PurePosixPath(self.page).parent / label)
            if page not in self.book.titles:
                raise ConversionError(f"{self.page}: {{doc}} to unknown page {label!r}")
            return f"[{title or self.book.titles[page]}]({self.book.url(page)})"
        target = self.book.targets.get(label)
        if target is None:
            raise ConversionError(f"{self.page}: {{{name}}} to unknown label {label!r}")
        if name == "numref":
            if target.number is None:
                raise ConversionError(f"{self.page}: {{numref}} to unnumbered {label!r}")
            shown = (
                title.replace("%s", str(target.number)).replace("{number}", str(target.number))
                if title
                else target.title
            )
        else:
            shown = title or target.title
        return f"[{shown}]({self.book.url(target.page, target.anchor)})"

    def _citation(self, kind: str, content: str) -> str:
        keys = [key.strip() for key in content.split(",")]
        missing = [key for key in keys if key not in self.book.citations]
        if missing:
            raise ConversionError(f"{self.page}: no bibliography entry for {missing}")
        url = self.book.url(self.book.bibliography_page)
        entries = [self.book.citations[key] for key in keys]
        if kind == "p":  # [Lin et al., 2014, Szegedy et al., 2015], as sphinxcontrib-bibtex
            return "[" + ", ".join(f"[{e.authors}, {e.year}]({url})" for e in entries) + "]"
        return ", ".join(f"{e.authors} [[{e.year}]({url})]" for e in entries)  # Ng [2017]


def convert_inline(
    text: str,
    role: Callable[[str, str], str | None],
    *,
    strict: bool,
    link: Callable[[str, str], str] | None = None,
) -> str:
    """``text`` with each role replaced by ``role(name, content)``; code spans stay verbatim."""

    def replace(match: re.Match) -> str:
        if match["code"]:
            return match["code"]
        replaced = role(match["name"], match["content"])
        if replaced is None:
            return match["content"] if not strict else match[0]
        return replaced

    def links(outside_code: str) -> str:
        if link is None:
            return outside_code
        return LINK.sub(lambda m: link(m["text"], m["target"]), outside_code)

    pieces = []
    position = 0
    for match in INLINE.finditer(text):
        pieces += [links(text[position : match.start()]), replace(match)]
        position = match.end()
    pieces.append(links(text[position:]))
    return "".join(pieces)


# --- Finding MyST markup ---------------------------------------------------------------------

MYST_PATTERNS = {
    "role": re.compile(r"\{[A-Za-z][\w:+.-]*\}`"),
    "directive": re.compile(r"^ {0,3}(`{3,}|~{3,}|:{3,})\s*\{", re.MULTILINE),
    "target": re.compile(r"^\s*\([^()\s]+\)=\s*$", re.MULTILINE),
    "labelled equation": re.compile(r"\$\$\s*\([^()\s]+\)\s*$", re.MULTILINE),
    "substitution": re.compile(r"\{\{[^{}]*\}\}"),
    "comment": re.compile(r"^%", re.MULTILINE),
}


def myst_markup(markdown: str) -> list[str]:
    """MyST roles, directives, targets, labelled equations, substitutions or comments in
    ``markdown`` (outside code), each as ``kind: excerpt``; empty for plain Jupyter Markdown."""
    found = []
    kept, fence, directives = [], None, []  # directives: the fences of open directives
    for line in markdown.splitlines():
        if fence:
            if _fence_closes(line, fence):
                fence = None
            kept.append("")
            continue
        if directives and _fence_closes(line, directives[-1]):
            directives.pop()
            kept.append("")
            continue
        match = FENCE.match(line)
        if match and match["info"].strip().startswith("{"):
            directives.append(match["fence"])
        elif match and match["fence"][0] != ":":
            fence = match["fence"]
            kept.append("")
            continue
        kept.append(line)
    text = "\n".join(kept)
    # Inline code spans are code, not markup (a role's backticks follow its braces directly).
    text = re.sub(r"(?<![}`])(`+)(?!`).+?(?<!`)\1(?!`)", "", text)
    for kind, pattern in MYST_PATTERNS.items():
        for match in pattern.finditer(text):
            line = text[text.rfind("\n", 0, match.start()) + 1 :].split("\n", 1)[0]
            found.append(f"{kind}: {line.strip()[:80]}")
    return found
