"""What we accept: the file suffixes and suffix-less names `extract` reads, and the kind of
document each one is. Nothing here opens a file."""

from __future__ import annotations

from pathlib import Path
from typing import Final

_TEXT_SUFFIXES: Final = frozenset({".txt", ".text", ".log", ".rst", ".csv", ".tsv", ".tex"})
_MARKDOWN_SUFFIXES: Final = frozenset({".md", ".markdown"})
_HTML_SUFFIXES: Final = frozenset({".html", ".htm", ".xhtml"})
_CODE_SUFFIXES: Final = frozenset(
    {
        # programming languages
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".c", ".h",
        ".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".cs", ".go", ".rs", ".rb", ".php",
        ".swift", ".kt", ".kts", ".scala", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat",
        ".cmd", ".sql", ".r", ".m", ".lua", ".pl", ".pm", ".dart", ".vue", ".svelte",
        # styles, data and configuration
        ".css", ".scss", ".sass", ".less", ".json", ".jsonl", ".yaml", ".yml", ".toml",
        ".ini", ".cfg", ".conf", ".xml", ".env", ".properties", ".gradle", ".cmake", ".mk",
        ".dockerfile",
    }
)  # fmt: skip
_BINARY_SUFFIXES: Final = {".pdf": "pdf", ".docx": "docx"}

SUPPORTED_SUFFIXES: Final[frozenset[str]] = frozenset(
    _TEXT_SUFFIXES | _MARKDOWN_SUFFIXES | _HTML_SUFFIXES | _CODE_SUFFIXES | set(_BINARY_SUFFIXES)
)
"""Lower-case suffixes (with the dot) that `extract` can read."""

# Files that conventionally carry no suffix (lower-cased name -> kind). Dot-files such as
# ".env" have an empty `Path.suffix`, so they are matched by name too.
_SPECIAL_NAMES: Final = {
    "makefile": "code", "gnumakefile": "code", "dockerfile": "code", "containerfile": "code",
    "jenkinsfile": "code", "vagrantfile": "code", "gemfile": "code", "rakefile": "code",
    "procfile": "code", ".env": "code", ".gitignore": "code", ".editorconfig": "code",
    "readme": "text", "license": "text", "licence": "text", "copying": "text",
    "authors": "text", "changelog": "text", "notice": "text",
}  # fmt: skip


def is_supported(path: Path) -> bool:
    """Whether `extract` knows how to read a file with this name (the file is not opened)."""
    return _kind_of(Path(path)) is not None


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    suffix = path.suffix.lower()
    if suffix in _BINARY_SUFFIXES:
        return _BINARY_SUFFIXES[suffix]
    if suffix in _HTML_SUFFIXES:
        return "html"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in _CODE_SUFFIXES:
        return "code"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    return None
