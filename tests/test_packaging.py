"""An installed wheel carries everything the server reads at run time: the
migrations, the templates and the static files of the management interface
(they are package data, found through the package, not the source tree),
the ``stws`` command and the twistd plugin."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from test_server_process import call_get_all_groups, free_port, stop, wait_until_serving

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(REPO)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (found,) = dist.glob("stws-*.whl")
    return found


def test_a_built_wheel_renders_the_pages_from_its_own_files(tmp_path, wheel):
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(installed)
    for needed in ("stws/web/templates/admin/layout.html", "stws/web/templates/asmx_operation.html",
                   "stws/web/static/admin.js", "stws/web/static/admin.css",
                   "stws/db/migrations/versions/0010_web_sessions.py"):
        assert needed in names
    # From another folder, with only the unpacked wheel on the path.
    script = (
        "import stws.web, stws.web.admin as admin;"
        "assert stws.web.__file__.startswith(%r), stws.web.__file__;"
        "html = stws.web.render_page('admin/signin.html', page=None, root='/admin', signed_in=None, roles=None,"
        " csrf_token='', notice='', notice_is_error=False, url=None, static=admin.static_url, title='Sign in',"
        " message='', username='', signin_csrf='t', next='', forgot_password_url='', local=False);"
        "assert b'Sign in to the help desk' in html;"
        "assert admin._STATIC['admin.js'][0].startswith(b'//')" % str(installed)
    )
    run = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, %r); %s" % (str(installed), script)],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


class FreshVenv:
    """A new venv with the wheel installed by pip, as a user installs it.
    Its dependencies come from the test run's own environment (a .pth line;
    no download in a test), which holds no stws of its own on that path:
    the checkout is on it only through .pth files, which a .pth line does
    not process."""

    def __init__(self, root: Path, wheel: Path):
        venv.EnvBuilder(with_pip=False).create(root)
        self.bin = root / "bin"
        python = self.bin / "python"
        site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                            text=True).strip())
        (site / "test-run-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                                    str(wheel)], capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, installed.stderr
        self.env = {k: v for k, v in os.environ.items() if k not in ("STWS_ADMIN_PASSWORD", "PYTHONPATH")}

    def run(self, *args, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / args[0]), *args[1:]], input=stdin, capture_output=True, text=True,
                              timeout=120, cwd=cwd, env=self.env)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, wheel) -> FreshVenv:
    return FreshVenv(tmp_path_factory.mktemp("venv"), wheel)


def test_the_installed_package_is_the_wheels(fresh, tmp_path):
    where = fresh.run("python", "-c", "import stws; print(stws.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(REPO) not in where.stdout and "site-packages" in where.stdout


def test_stws_command_migrates_creates_an_admin_checks_and_serves(fresh, tmp_path):
    data = tmp_path / "data"
    usage = fresh.run("stws", "--help", cwd=tmp_path)
    assert usage.returncode == 0 and all(name in usage.stdout for name in ("serve", "migrate", "create-admin", "check"))

    migrated = fresh.run("stws", "migrate", "--data-dir", str(data), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "upgraded from revision (empty) to" in migrated.stdout
    again = fresh.run("stws", "migrate", "--data-dir", str(data), cwd=tmp_path)
    assert "nothing to do" in again.stdout, again.stdout + again.stderr

    weak = fresh.run("stws", "create-admin", "ops", "--email", "ops@example.com", "--password-stdin",
                     "--data-dir", str(data), stdin="x\n", cwd=tmp_path)
    assert weak.returncode == 1 and "password" in weak.stderr.lower() and "Traceback" not in weak.stderr
    created = fresh.run("stws", "create-admin", "ops", "--email", "ops@example.com", "--password-stdin",
                        "--data-dir", str(data), stdin="Str0ng-and-long-enough\n", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    taken = fresh.run("stws", "create-admin", "OPS", "--email", "ops2@example.com", "--password-stdin",
                      "--data-dir", str(data), stdin="Str0ng-and-long-enough\n", cwd=tmp_path)
    assert taken.returncode == 1 and "taken" in taken.stderr

    checked = fresh.run("stws", "check", "--data-dir", str(data), cwd=tmp_path)
    assert "Database" in checked.stdout and checked.returncode in (0, 1), checked.stderr

    port = free_port()
    server = subprocess.Popen([str(fresh.bin / "stws"), "serve", "--data-dir", str(data),
                               "--listen", "tcp:%d:interface=127.0.0.1" % port],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=fresh.env)
    try:
        base = "http://127.0.0.1:%d" % port
        wait_until_serving(base + "/admin/signin", server)
        answer = call_get_all_groups(base + "/Services2/svcOrganization.asmx", "ops", "Str0ng-and-long-enough")
        assert b"<Result>true</Result>" in answer, answer
    finally:
        clean, output = stop(server)
    assert clean, output


def test_twistd_finds_the_plugin_installed_with_the_package(fresh, tmp_path):
    # twistd's own script belongs to Twisted, not installed here: its entry point.
    listed = fresh.run("python", "-c", "from twisted.scripts.twistd import run; run()", "--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "stws" in listed.stdout.split("Commands:", 1)[-1]
