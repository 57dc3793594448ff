"""An installed wheel carries everything the server reads at run time: the
migrations, the templates and the static files of the management interface
(they are package data, found through the package, not the source tree)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_built_wheel_renders_the_pages_from_its_own_files(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("stws-*.whl")
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
        " message='', username='', signin_csrf='t', next='');"
        "assert b'Sign in to the help desk' in html;"
        "assert admin._STATIC['admin.js'][0].startswith(b'//')" % str(installed)
    )
    run = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, %r); %s" % (str(installed), script)],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
