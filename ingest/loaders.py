"""Turn files into sources: text plus validated metadata.

Markdown and text carry YAML front matter (the fields: `SourceMeta`, docs/CORPUS.md). HTML, PDF and
PubMed XML (`efetch` format) carry what metadata they can, and the rest is inferred.
"""

from __future__ import annotations

import logging
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from pydantic import ValidationError

from assistant.errors import LoadError
from assistant.marks import Mark
from assistant.models import SourceMeta
from ingest.marks import MarkError, extract_marks

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".xml"}


@dataclass(frozen=True)
class LoadedSource:
    """One source read from disk, before cleaning."""

    meta: SourceMeta
    text: str
    path: Path
    # Fact marks, with their text in the same form as `text` (see ingest/marks.py).
    marks: tuple[Mark, ...] = ()
    # True when the file had no front matter or source metadata, so all of `meta` was guessed
    # (a README given to ingest by mistake looks like this).
    inferred: bool = False


def discover(paths: list[Path], unsupported: list[Path] | None = None) -> list[Path]:
    """Every supported file under the given files and folders, in a stable order.

    Files named directly are returned whatever their format, so loading reports why one fails.
    Other files found in folders (a .docx, an image) are appended to `unsupported`, when given,
    so they can be reported rather than skipped silently; hidden files are ignored.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if not p.is_file() or any(
                    part.startswith(".") for part in p.relative_to(path).parts
                ):
                    continue
                if p.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append(p)
                elif unsupported is not None:
                    unsupported.append(p)
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return found


def load_file(path: Path) -> list[LoadedSource]:
    """Read one file as one or more sources (a PubMed XML file may hold several articles)."""
    suffix = path.suffix.lower()
    try:
        if suffix in TEXT_SUFFIXES:
            return [_load_text(path)]
        if suffix in HTML_SUFFIXES:
            return [_load_html(path)]
        if suffix == ".pdf":
            return [_load_pdf(path)]
        if suffix == ".xml":
            return _load_pubmed(path)
    except LoadError:
        raise
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LoadError(path, f"invalid front matter ({problems})") from exc
    except UnicodeDecodeError as exc:
        raise LoadError(path, f"not valid UTF-8 text ({exc.reason})") from exc
    except Exception as exc:  # parsers raise many types; the user needs the reason, not a trace
        raise LoadError(path, f"unreadable {suffix} file ({type(exc).__name__}: {exc})") from exc
    raise LoadError(path, f"unsupported format {suffix!r}; use one of {sorted(SUPPORTED_SUFFIXES)}")


def slug(text: str) -> str:
    """A source id from a file name or title."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (value or "source")[:80]


# ---- Markdown and text ---------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def _load_text(path: Path) -> LoadedSource:
    raw = path.read_text(encoding="utf-8")
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    match = _FRONT_MATTER.match(raw)
    if raw.startswith("---") and not match:
        raise LoadError(path, "front matter opens with '---' but has no closing '---' line")
    if match:
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise LoadError(path, f"front matter is not valid YAML ({_yaml_reason(exc)})") from exc
        if not isinstance(data, dict):
            raise LoadError(path, "front matter must be a YAML mapping of field: value")
        body = raw[match.end() :]
    else:
        data, body = {}, raw
    try:
        body, marks = extract_marks(body)
    except MarkError as exc:
        raise LoadError(path, str(exc)) from exc
    if path.suffix.lower() in {".md", ".markdown"}:
        body = strip_markdown(body)
        marks = [replace(m, text=strip_markdown(m.text)) for m in marks]
    if not body.strip():
        raise LoadError(path, "no text after the front matter")
    inferred = not data
    data.setdefault("id", slug(path.stem))
    data.setdefault("title", _first_line(body) or path.stem)
    return LoadedSource(SourceMeta.model_validate(data), body, path, tuple(marks), inferred)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}" if mark else str(problem)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


def strip_markdown(text: str) -> str:
    """Markdown to plain text, keeping line and paragraph structure."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)
        line = re.sub(r"^\s*>\s?", "", line)
        if re.fullmatch(r"\s*(?:\|?\s*:?-{3,}:?\s*)+\|?\s*", line):
            continue  # table rule
        if line.strip().startswith("|"):
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        line = _MD_LINK.sub(r"\1", line)
        line = _MD_EMPHASIS.sub(r"\2", line)
        lines.append(line)
    return "\n".join(lines)


# ---- HTML ----------------------------------------------------------------------------------

_BLOCKS = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "td", "th", "pre"]


def _load_html(path: Path) -> LoadedSource:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    meta = {
        str(m.get("name", "")).lower(): str(m.get("content", ""))
        for m in soup.find_all("meta")
        if m.get("name")
    }
    title = (
        meta.get("citation_title")
        or (soup.title.string.strip() if soup.title and soup.title.string else "")
        or (soup.h1.get_text(" ", strip=True) if soup.h1 else "")
        or path.stem
    )
    for tag in soup(
        ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg"]
    ):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks = [el.get_text(" ", strip=True) for el in root.find_all(_BLOCKS)]
    if not blocks:
        blocks = [root.get_text(" ", strip=True)]
    text = "\n\n".join(b for b in blocks if b)
    if not text.strip():
        raise LoadError(path, "the HTML page has no main text")
    authors = [
        m.get("content", "") for m in soup.find_all("meta", attrs={"name": "citation_author"})
    ]
    data = {
        "id": meta.get("fibro:id") or slug(path.stem),
        "title": title,
        "authors": [a for a in authors if a] or ([meta["author"]] if meta.get("author") else []),
        "publisher": meta.get("citation_journal_title") or meta.get("og:site_name", ""),
        "published": meta.get("citation_publication_date") or meta.get("date", ""),
        "doi": meta.get("citation_doi", ""),
        "url": meta.get("citation_public_url", ""),
        "source_type": meta.get("fibro:source_type") or "patient_info",
        "evidence": meta.get("fibro:evidence") or "none",
        "topics": [t.strip() for t in meta.get("fibro:topics", "").split(",") if t.strip()],
    }
    inferred = not any(k.startswith(("citation_", "fibro:")) for k in meta)
    return LoadedSource(SourceMeta.model_validate(data), text, path, inferred=inferred)


# ---- PDF -----------------------------------------------------------------------------------


def _load_pdf(path: Path) -> LoadedSource:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with _quiet_pypdf():
            reader = PdfReader(str(path))
            pages = [page.extract_text() or "" for page in reader.pages]
            info: Mapping[str, object] = reader.metadata or {}
    except PdfReadError as exc:
        raise LoadError(path, f"not a readable PDF ({exc})") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise LoadError(path, "the PDF has no text layer (scanned images are not supported)")
    title = str(info.get("/Title") or "").strip() or _first_line(text) or path.stem
    author = str(info.get("/Author") or "").strip()
    data = {
        "id": slug(path.stem),
        "title": title,
        "authors": [a.strip() for a in re.split(r";|,(?= )", author) if a.strip()]
        if author
        else [],
        "source_type": "primary_study",
    }
    inferred = not (info.get("/Title") or info.get("/Author"))
    return LoadedSource(SourceMeta.model_validate(data), text, path, inferred=inferred)


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Keep pypdf's own complaints about a damaged file (log records, warnings) off the terminal.

    A PDF it can read is indexed; one it cannot is reported by name with the reason.
    """
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


# ---- PubMed XML (efetch) -------------------------------------------------------------------


def _load_pubmed(path: Path) -> list[LoadedSource]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise LoadError(path, f"not well-formed XML ({exc})") from exc
    articles = root.findall(".//PubmedArticle")
    if (
        root.tag not in {"PubmedArticleSet", "PubmedArticle"}
        or not articles
        and root.tag != "PubmedArticle"
    ):
        raise LoadError(path, f"not PubMed efetch XML (root element <{root.tag}>)")
    if root.tag == "PubmedArticle":
        articles = [root]
    sources = []
    for article in articles:
        citation = article.find("MedlineCitation")
        if citation is None:
            raise LoadError(path, "a <PubmedArticle> has no <MedlineCitation>")
        pmid = (citation.findtext("PMID") or "").strip()
        art = citation.find("Article")
        if art is None:
            raise LoadError(path, f"PMID {pmid}: no <Article> element")
        title = _itertext(art.find("ArticleTitle"))
        abstract_parts = []
        for node in art.findall("Abstract/AbstractText"):
            label = node.get("Label")
            body = _itertext(node)
            abstract_parts.append(f"{label.capitalize()}: {body}" if label else body)
        abstract = "\n\n".join(p for p in abstract_parts if p)
        if not abstract:
            raise LoadError(path, f"PMID {pmid}: no abstract text to index")
        authors = []
        for author in art.findall("AuthorList/Author"):
            last, initials = author.findtext("LastName"), author.findtext("Initials")
            if last:
                authors.append(f"{last} {initials}".strip() if initials else last)
            elif collective := author.findtext("CollectiveName"):
                authors.append(collective)
        journal = art.findtext("Journal/Title") or art.findtext("Journal/ISOAbbreviation") or ""
        year = (
            art.findtext("Journal/JournalIssue/PubDate/Year")
            or (art.findtext("Journal/JournalIssue/PubDate/MedlineDate") or "")[:4]
        )
        doi = next(
            (e.text or "" for e in art.findall("ELocationID") if e.get("EIdType") == "doi"),
            "",
        ) or next(
            (
                e.text or ""
                for e in article.findall("PubmedData/ArticleIdList/ArticleId")
                if e.get("IdType") == "doi"
            ),
            "",
        )
        meta = SourceMeta.model_validate(
            {
                "id": f"pmid-{pmid}" if pmid else slug(title),
                "title": title,
                "authors": authors,
                "publisher": journal,
                "published": year,
                "pmid": pmid,
                "doi": doi.strip(),
                "source_type": "primary_study",
                "evidence": "none",
                "text_origin": "original",
                "note": "Abstract from PubMed.",
            }
        )
        sources.append(LoadedSource(meta, f"{title}\n\n{abstract}", path))
    return sources


def _itertext(node: ET.Element | None) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""
