"""The ``stws`` command: the jobs an administrator does from a shell.

    stws serve [options]          run the server in the foreground (twistd stws, same options)
    stws migrate [options]        create or upgrade the database schema, and say to which revision
    stws create-admin NAME ...    add an administrator account (e.g. when every other one is lost)
    stws check [options]          run the self-diagnostic; exit status 1 if a check fails

``--help`` after any of them lists its options. ``serve`` is ``twistd -n
stws``: the service maker is handed to twistd directly, so it works without
twistd finding its plugin (stws.twistd.SERVICE_MAKER; the plugin file in
twisted/plugins names the same object, for ``twistd stws``).
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from stws.config import Config, ConfigError

# The options every command that opens the database understands, as twistd stws spells them.
_DATABASE_OPTIONS = (("--config", "-c", "INI file with a [stws] section"),
                     ("--data-dir", "-d", "Data directory (default ./data)"),
                     ("--database", None, "SQLAlchemy URL (default: SQLite file in the data directory)"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="stws", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the server in the foreground (options: stws serve --help)",
                        add_help=False)
    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    _database_options(migrate)
    admin = commands.add_parser("create-admin", help="add an administrator account")
    admin.add_argument("username")
    admin.add_argument("--email", required=True, help="the account's email address")
    admin.add_argument("--display-name", default="", help="shown to agents and customers (default: the name)")
    admin.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input (else "
                            "STWS_ADMIN_PASSWORD, else asked twice on the terminal)")
    _database_options(admin)
    check = commands.add_parser("check", help="run the self-diagnostic and print its checks")
    _database_options(check)

    if argv[:1] == ["serve"]:  # twistd parses serve's options itself (and prints its --help)
        return _serve(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        config = Config.load({"data-dir": args.data_dir, "database": args.database}, args.config)
    except ConfigError as error:
        parser.error(str(error))
    return {"migrate": _migrate, "create-admin": _create_admin, "check": _check}[args.command](config, args)


def _database_options(parser: argparse.ArgumentParser) -> None:
    for long, short, text in _DATABASE_OPTIONS:
        names = (long, short) if short else (long,)
        parser.add_argument(*names, dest=long[2:].replace("-", "_"), default=None, help=text)


def _serve(options: list[str]) -> int:
    from twisted.application import app, service
    from twisted.scripts import twistd

    from stws.twistd import SERVICE_MAKER

    class ServerOptions(twistd.ServerOptions):
        # Only stws's service: no plugin discovery on sys.path needed.
        _getPlugins = staticmethod(lambda interface, package=None:
                                   [SERVICE_MAKER] if interface is service.IServiceMaker else [])

    # -n: foreground, log to stdout; --pidfile=: no twistd.pid (as scripts/run-server).
    sys.argv = ["stws serve", "-n", "--pidfile=", "stws", *options]
    app.run(twistd.runApp, ServerOptions)
    return 0


def _migrate(config: Config, args) -> int:
    from stws.datadir import DataDirectory
    from stws.db import schema
    from stws.db.engine import Database

    DataDirectory(config.data_dir).create()  # the SQLite file's folder, on a first run
    database = Database(config.database_url)
    try:
        before = schema.current_revision(database.engine)
        schema.upgrade(database.engine)
        after = schema.current_revision(database.engine)
    finally:
        database.dispose()
    where = database.engine.url.render_as_string(hide_password=True)
    if before == after:
        print("%s is at revision %s, the newest: nothing to do." % (where, after))
    else:
        print("%s upgraded from revision %s to %s." % (where, before or "(empty)", after))
    return 0


def _create_admin(config: Config, args) -> int:
    from stws.domain import organization
    from stws.domain.context import Context
    from stws.errors import OperationError
    from stws.runtime import start_runtime
    from stws.security import roles
    from stws.security.principals import system_principal

    password = _new_password(args.password_stdin)
    try:
        hashed = organization.prepare_password(password)
    except OperationError as error:
        print("stws create-admin: %s" % error.message, file=sys.stderr)
        return 1
    runtime = start_runtime(config)
    try:
        with runtime.db.transaction() as session:
            context = Context.in_session(session, system_principal(session, "stws create-admin"), runtime)
            user = organization.create_user(context, args.username, hashed, args.email, True, args.display_name,
                                            [roles.AGENT, roles.ADMINISTRATOR])
            name = user.username
    except OperationError as error:
        print("stws create-admin: %s" % error.message, file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print("Created the administrator %s." % name)
    return 0


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if os.environ.get("STWS_ADMIN_PASSWORD"):
        return os.environ["STWS_ADMIN_PASSWORD"]
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise SystemExit("stws create-admin: the two passwords differ; nothing was created.")
    return first


def _check(config: Config, args) -> int:
    from stws.diagnostics.selfcheck import FAILURE
    from stws.operations import diagnostics, runner
    from stws.runtime import start_runtime
    from stws.security.principals import system_principal

    runtime = start_runtime(config)
    runtime.remote.start()
    try:
        with runtime.db.transaction(writes=False) as session:
            principal = system_principal(session, "stws check")
        checks = runner.run(runtime, diagnostics.self_diagnostic, principal)
    finally:
        runtime.remote.stop()
        runtime.close()
    width = max(len(check.name) for check in checks)
    for check in checks:
        print("%-7s %-*s  %s" % (check.status, width, check.name, check.message))
    return 1 if any(check.status == FAILURE for check in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
