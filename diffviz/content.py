"""Where the package's own content lives: the lecture dashboards and the chapter notebooks.

In the source tree they sit at the top (`notebooks/`, `dashboards/`, beside `diffviz/`); the build maps them
into the wheel as `diffviz/notebooks/` and `diffviz/dashboards/` (pyproject.toml's package-dir), so
`pip install diffviz` gives them and importlib.resources finds them. A checkout (the folder above `diffviz/`
holds pyproject.toml and these folders) uses its own top-level copies, so an edited chapter is what is served.
`DIFFVIZ_DASHBOARDS` points `diffviz dashboard` at another folder of dashboards (a course's own).
"""
from __future__ import annotations

import os
import shutil
from importlib.resources import files
from pathlib import Path
from .errors import DiffvizError, MissingFileError, OutputPathError
from .utils import atomic_write, check_output_folder

DASHBOARDS_ENV = "DIFFVIZ_DASHBOARDS"
LANGUAGES = ("en", "zh")


CHECKOUT = Path(__file__).resolve().parents[1]  # the source tree's top, when diffviz runs from a checkout


def package_folder(name: str) -> Path:
    """`notebooks` or `dashboards`: a checkout's top-level folder, else the installed package's copy."""
    top = CHECKOUT / name
    if (CHECKOUT / "pyproject.toml").is_file() and top.is_dir():
        return top
    return Path(str(files("diffviz") / name))


def dashboards_dir() -> Path:
    """The folder of dashboards `diffviz dashboard` serves (the package's, or $DIFFVIZ_DASHBOARDS)."""
    d = Path(os.environ[DASHBOARDS_ENV]) if os.environ.get(DASHBOARDS_ENV) else package_folder("dashboards")
    if not d.is_dir():
        raise MissingFileError(f"no dashboards folder at {d}; {DASHBOARDS_ENV} must name a folder of .ipynb dashboards")
    return d


def dashboard_names() -> list[str]:
    return sorted(p.stem for p in dashboards_dir().glob("*.ipynb"))


def chapters_dir(lang: str = "en") -> Path:
    """The chapter notebooks in a language (English: the folder itself; others: a subfolder)."""
    if lang not in LANGUAGES:
        raise DiffvizError(f"unknown language {lang!r}; allowed: {', '.join(LANGUAGES)}")
    d = package_folder("notebooks")
    d = d if lang == "en" else d / lang
    if not any(d.glob("*.ipynb")):
        raise MissingFileError(f"no {lang} chapters in this diffviz installation (looked in {d})")
    return d


def chapters(lang: str = "en") -> list[Path]:
    return sorted(chapters_dir(lang).glob("*.ipynb"))


def copy_chapters(dest: str | Path, lang: str = "en", overwrite: bool = False) -> list[Path]:
    """Copy the chapter notebooks into `dest` (a folder the student owns); returns the new files.

    Existing files are never overwritten unless asked (a student's edited chapter is theirs).
    """
    dest = check_output_folder(dest)  # a file there, a read-only place: refused before copying
    sources = chapters(lang)
    clashes = [dest / p.name for p in sources if (dest / p.name).exists()]
    if clashes and not overwrite:
        raise OutputPathError(f"{len(clashes)} chapter(s) already in {dest} (e.g. {clashes[0].name}); "
                              "pass --force to overwrite them")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sources:
        atomic_write(dest / src.name, lambda tmp, src=src: shutil.copyfile(src, tmp))  # a half-copied chapter never appears
        out.append(dest / src.name)
    return out
