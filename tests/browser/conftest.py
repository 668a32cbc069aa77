"""Shared fixtures of the real-browser tests: JupyterLab and Voila servers, Chromium, wait helpers.

One JupyterLab server (on copies of the notebooks, so nothing is ever autosaved over the
repository's files) and one headless Chromium serve every test of the session; Voila
gets one server per test module. Servers listen on 127.0.0.1 only and keep their
Jupyter config, data and runtime files in a temporary folder, so a run leaves nothing
in HOME. Playwright's own browser download does not work here: the tests drive
Debian's ``chromium`` and fail (never skip) when it is missing.

Fixtures:
    lab       the session's JupyterLab server (:class:`Lab`): open a notebook, Run All
    lab_page  a browser tab for one notebook; its kernel is shut down afterwards
    voila     a Voila server on freshly built demo pages (:class:`Voila`)
    page      a fresh browser tab (its own context) per test
    ui        helpers shared by both: demo views, output problems, screenshots (:class:`UI`)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_tools import ROOT

SCREENSHOTS = ROOT / "build" / "screenshots"
BIN = Path(sys.executable).parent  # the virtualenv's bin/: jupyter, voila
INSTALL_HINT = "install it with `apt-get update && apt-get install -y chromium` (CI's `.ci/run` does that)"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Generous limits: the machine may be shared with other busy processes. Waits poll for a
# condition, so a fast run never sleeps for these.
SERVER_START_S = 90
KERNEL_IDLE_S = 120
RUN_ALL_S = 180
WIDGETS_RENDER_S = 60
REDRAW_S = 10
ACTION_MS = 30_000

# The status bar reads e.g. "Python 3 (ipykernel) | Idle" once the notebook's kernel is connected and idle.
KERNEL_IDLE_JS = ("((t) => /[|] Idle/.test(t) && !t.includes('No Kernel'))"
                  "(document.querySelector('#jp-main-statusbar')?.textContent || '')")
# Run All is over: the kernel is idle, no cell is queued ("[*]"), and either every code cell
# ran ("[n]") or an error stopped the run (Lab then unqueues the cells below it).
RUN_ALL_DONE_JS = """([n, stderr]) => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
    const idle = """ + KERNEL_IDLE_JS + """;
    const queued = prompts.some(p => p.includes('*'));
    const done = prompts.length === n && prompts.every(p => /\\[\\d+\\]/.test(p));
    return idle && !queued && (done || document.querySelector(stderr) !== null);
}"""
OUTPUT = ".jp-OutputArea-output"  # one output of a cell, in Lab and in Voila
STDERR = f'{OUTPUT}[data-mime-type="application/vnd.jupyter.stderr"]'
WIDGET_IMAGE = "img.widget-image, .widget-image img"
# A widget or a figure shown as text instead of rendered: "VBox(children=(...))",
# "Image(value=b'...')", "<Figure size 900x320 with 2 Axes>".
TEXT_REPR = re.compile(r"\b[A-Z][A-Za-z]*\((?:children|value|description|layout|options)="
                       r"|<Figure size \d+x\d+ with \d+ Axes>")


# --- servers -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A Jupyter-based server process on 127.0.0.1; stopped by its PID (terminate, then kill)."""

    def __init__(self, name: str, cmd: list[str], *, cwd: Path, env: dict, port: int, log: Path):
        self.name, self.cmd, self.port, self.log = name, cmd, port, log
        self.base_url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, path: str, timeout_s: float = SERVER_START_S) -> None:
        """Poll ``path`` until it answers 200; fail with the server's log if it dies or never answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode} while starting:\n"
                            f"{' '.join(self.cmd)}\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"{self.name} did not answer {path} within {timeout_s} s:\n{self.log_tail()}", pytrace=False)

    def api(self, method: str, path: str):
        request = urllib.request.Request(self.base_url + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def _write_settings(config_dir: Path, plugin: str, settings: dict) -> None:
    path = config_dir / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory) -> dict:
    """The environment of every server: Jupyter and IPython files in a temporary folder."""
    home = tmp_path_factory.mktemp("jupyter-home")
    env = dict(os.environ)
    # npm_config_cache: the server runs `npm prefix --global` (language servers), which logs to ~/.npm.
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "npm_config_cache"):
        env[var] = str(home / var.lower())
        Path(env[var]).mkdir()
    # Kernels must use Jupyter's inline backend, as a student's do: with MPLBACKEND=Agg inherited
    # (scripts/check.sh exports it), a returned Figure shows as the text "<Figure size ...>".
    env.pop("MPLBACKEND", None)
    config = Path(env["JUPYTER_CONFIG_DIR"])
    # Render every cell (Lab 4 otherwise leaves off-screen cells out of the DOM), no blank space
    # under the last cell (screenshots), and no news toast.
    _write_settings(config, "@jupyterlab/notebook-extension/tracker", {"windowingMode": "none", "scrollPastEnd": False})
    _write_settings(config, "@jupyterlab/apputils-extension/notification",
                    {"fetchNews": "false", "checkForUpdates": False})
    return env


# --- JupyterLab ---------------------------------------------------------------------------
class Lab:
    """The session's JupyterLab server on copies of ``exercises/`` and ``solutions/``."""

    scroller = ".jp-WindowedPanel-outer"  # the notebook scrolls inside this element

    def __init__(self, server: Server, root: Path):
        self.server, self.root = server, root
        self._shutdowns: list[threading.Thread] = []

    def open(self, page, notebook: Path, n_cells: int) -> None:
        """Open ``notebook`` (relative to the repo) in a fresh workspace; wait for every cell and an idle kernel."""
        page.goto(f"{self.server.base_url}/lab/tree/{notebook.as_posix()}?reset", wait_until="domcontentloaded")
        wait_for(page, "(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length === n", n_cells,
                 timeout_s=KERNEL_IDLE_S,
                 message=lambda: f"{notebook}: expected {n_cells} rendered cells (is windowing off?), found "
                                 f"{page.locator('.jp-Notebook .jp-Cell').count()}")
        dismiss_news_toast(page)
        wait_for(page, f"() => {KERNEL_IDLE_JS}", timeout_s=KERNEL_IDLE_S,
                 message=lambda: f"{notebook}: the kernel never became idle; status bar: "
                                 f"{page.locator('#jp-main-statusbar').inner_text()!r}")

    def run_all(self, page, n_code_cells: int, timeout_s: float = RUN_ALL_S) -> None:
        """Run > Run All Cells, then wait until the kernel is idle and nothing is queued.

        Returns once every code cell has an execution count, or once a cell's error has
        stopped the run (the test then reports the traceback).
        """
        page.click("#jp-MainMenu >> text=Run")
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        wait_for(page, RUN_ALL_DONE_JS, [n_code_cells, STDERR], timeout_s=timeout_s,
                 message=lambda: f"Run All did not finish within {timeout_s} s; prompts: {self.input_prompts(page)}")

    @staticmethod
    def input_prompts(page) -> list[str]:
        """Every code cell's prompt: "[3]:" ran, "[*]:" queued or running, "[ ]:" never ran."""
        return [t.strip() for t in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]

    def shutdown_kernels(self, background: bool = False) -> None:
        """Shut every notebook's kernel down; in the background, the next test need not wait for it."""
        if background:
            thread = threading.Thread(target=self.shutdown_kernels, daemon=True)
            thread.start()
            self._shutdowns.append(thread)
            return
        for session in self.server.api("GET", "/api/sessions"):
            try:
                self.server.api("DELETE", f"/api/sessions/{session['id']}")
            except urllib.error.HTTPError as err:
                if err.code != 404:  # 404: already gone
                    raise

    def close(self) -> None:
        for thread in self._shutdowns:
            thread.join(timeout=30)
        try:
            if self.server.proc.poll() is None:
                self.shutdown_kernels()
        finally:
            self.server.stop()


def dismiss_news_toast(page) -> None:
    """Answer "No" to a "Jupyter news?" toast if one shows (the settings normally prevent it)."""
    button = page.locator(".Toastify button:has-text('No')")
    if button.count():
        button.first.click()


def _copy_without_outputs(src: Path, dest: Path) -> None:
    """Copy a notebook with its outputs stripped: Run All then starts from blank prompts."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


@pytest.fixture(scope="session")
def lab(tmp_path_factory, jupyter_env):
    root = tmp_path_factory.mktemp("lab-root")
    for folder in ("exercises", "solutions"):
        for src in sorted((ROOT / folder).glob("*.ipynb")):
            _copy_without_outputs(src, root / folder / src.name)
    port = free_port()
    cmd = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--ServerApp.port_retries=0",  # a taken port fails at once (not a silent move to another)
           "--ServerApp.disable_check_xsrf=True"]  # lets the fixture shut kernels down over REST
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    server = Server("JupyterLab", cmd, cwd=root, env=jupyter_env, port=port,
                    log=tmp_path_factory.getbasetemp() / "jupyterlab.log")
    running = Lab(server, root)
    try:
        server.wait_ready("/api/status")
        yield running
    finally:
        running.close()


@pytest.fixture
def lab_page(lab, page):
    """A browser tab for one notebook; the notebook's kernel is shut down after the test."""
    yield page
    lab.shutdown_kernels(background=True)


# --- Voila -------------------------------------------------------------------------------
class Voila:
    """A Voila server on the demo pages, built fresh into a temporary folder."""

    scroller = "#rendered_cells"  # the page scrolls inside this element

    def __init__(self, server: Server, pages: list[Path]):
        self.server, self.pages = server, pages

    def url(self, page_name: str) -> str:
        return f"{self.server.base_url}/voila/render/{page_name}"


@pytest.fixture(scope="module")
def voila(tmp_path_factory, jupyter_env):
    from course_tools import demo

    out = tmp_path_factory.mktemp("demo-pages")
    pages = demo.build(out)
    port = free_port()
    cmd, _ = demo.voila_command(out, port)  # the command line `make demo` runs
    server = Server("Voila", cmd, cwd=out, env=jupyter_env, port=port,
                    log=tmp_path_factory.getbasetemp() / f"voila-{port}.log")
    try:
        server.wait_ready("/")
        yield Voila(server, pages)
    finally:
        server.stop()


# --- the browser -----------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def chromium_path() -> str:
    """Debian's Chromium; checked first, so a machine without it fails before any server starts."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"the browser tests need Debian's Chromium (`chromium` is not on the PATH): {INSTALL_HINT}",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("chromium-home")  # its crash reports and dconf cache, out of HOME
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache")}
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS, env=env)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A new tab in its own browser context; JavaScript errors are printed (shown if the test fails)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(ACTION_MS)
    tab = context.new_page()
    tab.on("pageerror", lambda err: print(f"JavaScript error on {tab.url}: {err}"))
    yield tab
    context.close()


# --- waiting, widgets, screenshots -------------------------------------------------------------
def wait_for(page, predicate: str, arg=None, *, timeout_s: float, message) -> None:
    """Wait until the JavaScript ``predicate(arg)`` is truthy; on timeout fail with ``message()``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(predicate, arg=arg, timeout=timeout_s * 1000, polling=100)
    except PlaywrightTimeout:
        pytest.fail(message() if callable(message) else message, pytrace=False)


class DemoView:
    """One rendered demo: the output area holding its widget view (controls, image, readout)."""

    def __init__(self, page, area):
        self.page, self.area = page, area
        self.image = area.locator(WIDGET_IMAGE).first

    def image_src(self) -> str:
        return self.image.get_attribute("src") or ""

    def sliders(self) -> list[tuple[str, object]]:
        """(description, slider) of every visible slider; hidden ones (lecture preset) are left out."""
        found = []
        for slider in self.area.locator(".widget-slider").all():
            if slider.is_visible():
                label = slider.locator(".widget-label").first
                found.append(((label.inner_text() if label.count() else "").strip() or "(no label)", slider))
        return found

    def slider_redraws(self, slider, timeout_s: float = REDRAW_S) -> bool:
        """Focus the slider's handle, press ArrowRight once; True once the image ``src`` changes.

        A slider already at its maximum gets ArrowLeft instead (ArrowRight would not move it).
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        before = self.image_src()
        handle = slider.locator(".noUi-handle").first
        now, top = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
        at_max = now is not None and top is not None and float(now) >= float(top)
        handle.focus()
        handle.press("ArrowLeft" if at_max else "ArrowRight")
        try:
            self.page.wait_for_function("([img, before]) => img.getAttribute('src') !== before",
                                        arg=[self.image.element_handle(), before],
                                        timeout=timeout_s * 1000, polling=50)
        except PlaywrightTimeout:
            return False
        return True


class UI:
    """Helpers shared by the Lab and Voila tests."""

    def demo_views(self, page) -> list[DemoView]:
        """Every output that holds a widget image: one per demo shown."""
        areas = page.locator(OUTPUT).filter(has=page.locator(WIDGET_IMAGE))
        return [DemoView(page, area) for area in areas.all()]

    def wait_for_demo_views(self, page, expected: int, timeout_s: float = WIDGETS_RENDER_S) -> list[DemoView]:
        """Wait until ``expected`` demo views show an image (or a widget error shows); return them all."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_function("""([n, output, image]) => {
                const areas = [...document.querySelectorAll(output)];
                const shown = areas.filter(a => [...a.querySelectorAll(image)].some(i => i.getAttribute('src')));
                return shown.length >= n || document.body.innerText.includes('Error displaying widget');
            }""", arg=[expected, OUTPUT, WIDGET_IMAGE], timeout=timeout_s * 1000, polling=100)
        except PlaywrightTimeout:
            pass  # the caller's assertion on the count says what is missing
        return self.demo_views(page)

    def output_texts(self, page) -> list[str]:
        """The text of every cell output."""
        return page.locator(OUTPUT).all_inner_texts()

    def tracebacks(self, page) -> list[str]:
        """The text of every stderr or error output (a traceback, a warning)."""
        return [t.strip() for t in page.locator(STDERR).all_inner_texts()]

    def render_problems(self, page) -> list[str]:
        """Outputs where a widget failed to render, or a widget or figure shows as its plain-text repr."""
        problems = []
        for text in self.output_texts(page):
            if "Error displaying widget" in text or TEXT_REPR.search(text):
                problems.append(text.strip()[:300])
        return problems

    def assert_sliders_redraw(self, where: str, named_views: list[tuple[str, DemoView]]) -> None:
        """Press one arrow key on each visible slider of each (name, view); its demo's image must change."""
        failed, exercised = [], 0
        for name, view in named_views:
            for label, slider in view.sliders():
                exercised += 1
                if not view.slider_redraws(slider):
                    failed.append(f"{name}: slider {label!r}")
        print(f"{where}: {len(named_views)} demo view(s), {exercised} slider(s) exercised")
        assert not failed, f"{where}: ArrowRight did not change the demo's image for: " + "; ".join(failed)

    def screenshot(self, page, name: str, scroller: str | None = None) -> Path:
        """Save a full-page screenshot to build/screenshots/NAME.png.

        JupyterLab and Voila scroll inside an element, not the page: with ``scroller``
        (``Lab.scroller``, ``Voila.scroller``) the viewport is made tall enough to show
        all of that element first.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        viewport = page.viewport_size
        if scroller and page.locator(scroller).count():
            hidden = page.eval_on_selector(scroller, "el => el.scrollHeight - el.clientHeight")
            if hidden > 0:
                page.set_viewport_size({"width": viewport["width"], "height": min(viewport["height"] + hidden, 16000)})
                try:
                    page.wait_for_function("""(s) => {
                        const el = document.querySelector(s);
                        el.scrollTop = 0;
                        return el.scrollHeight <= el.clientHeight + 2;
                    }""", arg=scroller, timeout=5000)
                except PlaywrightTimeout:
                    pass  # a partly laid-out screenshot is still useful
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(viewport)
        return path


@pytest.fixture(scope="session")
def ui() -> UI:
    return UI()
