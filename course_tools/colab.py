"""Where the course lives online, and the two cells that open every generated notebook.

:data:`REPOSITORY` is the one setting: the Colab badges (in the README's syllabus and in each
notebook's first cell), the notation link and the Colab install command are all built from it.
A fork changes it here, then runs ``make notebooks`` and ``make syllabus``.

Every notebook starts with

1. a markdown cell: the "Open in Colab" badge of this very notebook, and the notation page;
2. a code cell that, in Google Colab only, pip-installs this package from the repository. pip
   keeps what Colab already has (torch, matplotlib, ipywidgets, numpy: pyproject.toml asks for no
   newer versions than Colab's), so nothing Colab ships is reinstalled. Anywhere else the cell
   does nothing.
"""

from __future__ import annotations

__all__ = ["BRANCH", "NOTATION", "REPOSITORY", "badge", "bootstrap_source", "colab_url", "header_source",
           "install_target", "web_url"]

#: The course's public repository (the one setting; see the module docstring).
REPOSITORY = "https://github.com/dgm-course/deep-generative-models"
#: The branch Colab opens and installs from.
BRANCH = "main"
#: The notation page shared by every notebook, relative to the repository root.
NOTATION = "NOTATION.md"
_BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"


def _repo_path() -> str:
    prefix = "https://github.com/"
    if not REPOSITORY.startswith(prefix) or REPOSITORY.rstrip("/").count("/") != 4:
        raise ValueError(f"REPOSITORY must look like https://github.com/OWNER/NAME, got {REPOSITORY!r}")
    return REPOSITORY.rstrip("/")[len(prefix):]


def colab_url(path: str) -> str:
    """The Colab URL that opens the committed notebook at ``path`` (relative to the repository root)."""
    return f"https://colab.research.google.com/github/{_repo_path()}/blob/{BRANCH}/{path}"


def web_url(path: str) -> str:
    """The file's page on GitHub."""
    return f"{REPOSITORY.rstrip('/')}/blob/{BRANCH}/{path}"


def badge(path: str) -> str:
    """A markdown "Open in Colab" badge for the notebook at ``path``."""
    return f"[![Open In Colab]({_BADGE_SVG})]({colab_url(path)})"


def install_target() -> str:
    """What pip installs in Colab: this package, from the repository's branch."""
    return f"git+{REPOSITORY.rstrip('/')}.git@{BRANCH}"


def header_source(path: str) -> str:
    """The first (markdown) cell of the notebook at ``path``: its Colab badge and the notation page."""
    return (f"{badge(path)}\n\n"
            f"Symbols and conventions used in every notebook: [notation](../{NOTATION}) "
            f"([on GitHub]({web_url(NOTATION)})).")


def bootstrap_source() -> str:
    """The first code cell: installs the course package in Colab, does nothing elsewhere."""
    return (
        "# Setup. In Google Colab this installs the course package (course_utils) from its repository;\n"
        "# Colab's own torch, matplotlib and ipywidgets are kept. Anywhere else it does nothing.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", \"{install_target()}\"],\n"
        "                   check=True)\n"
    )
