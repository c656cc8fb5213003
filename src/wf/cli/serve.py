"""`wf serve`: the local engine behind Dapr's workflow HTTP API (FastAPI on uvicorn, extra `server`).

Imported at CLI start-up to register the command, so it imports nothing heavy: FastAPI, uvicorn
and the engine load when the command runs.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys

import click

from wf.cli.common import Globals, load_app, pass_globals
from wf.cli.logs import logging_options, logging_to_stderr
from wf.model import InvalidArgumentError, UnsupportedError, WfError

log = logging.getLogger("wf.serve")


def is_loopback(host: str) -> bool:
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _check_allow_hosts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from wf.server.auth import parse_allow_host

    for value in values:
        try:
            parse_allow_host(value)
        except ValueError:
            raise click.BadParameter(f"{value[:80]!r} is not a host name, NAME:PORT or '*'") from None
    return values


@click.group("serve", invoke_without_command=True)
@click.option("--app", "app_spec", metavar="MODULE:ATTR",
              help="Also run this app's workflows and activities in the server process (MODULE:ATTR or FILE.py:ATTR).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback requires a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=3500, show_default=True, help="Port to listen on.")
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=50001, show_default=True,
              help="Port for Dapr's gRPC workflow API (Dapr SDK apps connect here unchanged); 0 disables it.")
@click.option("--token", "serve_token", metavar="TOKEN",
              help="Require this API token in the dapr-api-token header [env WF_API_TOKEN, else DAPR_API_TOKEN].")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME[:PORT]", callback=_check_allow_hosts,
              help="Also answer requests whose Host header (gRPC: :authority) is NAME (any port) or NAME:PORT; '*' "
                   "for any. Repeatable. By default only localhost, 127.0.0.1, [::1] and --host, at this port.")
@click.option("--tokens", "tokens_file", metavar="FILE",
              help="Named tokens with roles (read, operate, admin) from this TOML file of hashes; "
                   "'wf serve token add' writes it.")
@click.option("--no-ui", is_flag=True, help="Do not serve the web dashboard at /.")
@logging_options
@click.pass_context
def serve_cmd(ctx: click.Context, app_spec: str | None, host: str, port: int, grpc_port: int,
              serve_token: str | None, allow_hosts: tuple[str, ...], tokens_file: str | None, no_ui: bool,
              verbose: int, log_level: str | None, log_format: str) -> None:
    """Serve the local store over Dapr's workflow HTTP API, plus listing, history and bulk purge.

    Every wf command, and WorkflowClient(url=...), works against it with --url / WF_URL. Unmodified
    Dapr workflow apps (dapr.ext.workflow) connect to --grpc-port as to a Dapr sidecar and run on
    this store, as app --app-id. The token (header or gRPC metadata dapr-api-token) is compared in
    constant time and never logged. Stop with Ctrl-C or SIGTERM.

    \b
    Examples:
      wf serve                                         # http://127.0.0.1:3500 (dashboard at /)
      WF_API_TOKEN=s3cret wf serve --host 0.0.0.0 --app examples/approval.py:wfr
      WF_URL=http://127.0.0.1:3500 wf list             # from another shell
      wf -a orders serve & python app.py               # a Dapr SDK app, unchanged (gRPC :50001)
      wf serve token add ci --role read                # a named token (printed once) ...
      wf serve --tokens ~/.config/wf/tokens.toml       # ... that this server accepts

    Roles: read (get, list, history, metadata), operate (also start, raise-event, suspend, resume,
    terminate, rerun), admin (also purge, bulk operations, retention, audit). --token is an admin token.

    It logs to stderr: each HTTP request and gRPC call (never a token), and, with --app, what
    `wf worker` logs (README: Logs).
    """
    if ctx.invoked_subcommand is not None:
        return
    g = ctx.find_object(Globals) or Globals()
    ctx.with_resource(logging_to_stderr(verbose, log_level, log_format, quiet=g.quiet))
    token = serve_token or g.setting("token") or None
    named = None
    if tokens_file is not None:
        from wf.server.auth import load_tokens

        named = load_tokens(os.path.expanduser(tokens_file))
    if not is_loopback(host) and not token and not named:
        raise InvalidArgumentError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run and purge "
            "workflows. Pass --token (or set WF_API_TOKEN), or listen on 127.0.0.1")
    try:
        import uvicorn

        from wf.server.app import create_app
    except ImportError as exc:
        raise UnsupportedError(
            f"wf serve needs the 'server' extra ({exc.name or exc} is not installed): "
            "python -m pip install 'wf[server]'") from None
    from wf import settings

    db = g.resolved_db()
    app_id = g.resolved_app_id()
    durability = g.setting("durability")
    # The app module's WorkflowRuntime(db=None) resolves to this server's store and app id. The
    # server always serves the local store, whatever --url / WF_URL say (they are for clients).
    settings.set_overrides(db=str(db), app_id=app_id, profile=g.profile, durability=durability)
    _check_store(db, app_id, durability)  # a store wf cannot use is one error line now, not a 500 later
    runtime = load_app(app_spec) if app_spec else None
    from wf.server.auth import TokenTable

    table = TokenTable(single=token, named=named)
    asgi = create_app(db, app_id=app_id, token=token, runtime=runtime, durability=durability, host=host,
                      allow_hosts=allow_hosts, tokens=table, ui=not no_ui,
                      metrics=True)

    grpc_server = _start_grpc(db, app_id=app_id, host=host, port=grpc_port, token=token,
                              durability=durability, tokens=table, allow_hosts=allow_hosts) if grpc_port else None
    grpc_note = f"; gRPC on port {grpc_server.port}" if grpc_server is not None else ""
    from wf.server.slow_clients import HeaderTimeoutProtocol

    config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", access_log=False, log_config=None,
                            server_header=False, date_header=False, lifespan="on", http=HeaderTimeoutProtocol)
    extra = f", running {app_spec}" if app_spec else ""

    def announce(bound_port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        log.info("wf serve: listening on http://%s:%s%s (app %s, store %s%s; %s); Ctrl-C or SIGTERM stops it", shown,
                 bound_port, grpc_note, app_id, db, extra, "token required" if token or named else "no token")

    server = _server_class()(config, announce)
    shown = f"[{host}]" if ":" in host else host
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind or start up
        if server.started:
            raise
        failed = True
    else:
        failed = not server.started
    finally:
        if grpc_server is not None:
            log.info("wf serve: stopping the gRPC door")
            grpc_server.stop()
    sys.stderr.flush()
    if failed:
        raise WfError(f"wf serve could not start on {shown}:{port} (the port is in use or not allowed, or the "
                      "app failed to start; see above); pick another --port or --host")
    log.info("wf serve: stopped")


def _start_grpc(db, *, app_id: str, host: str, port: int, token: str | None, durability: str | None,
                tokens=None, allow_hosts: tuple[str, ...] = ()):
    """Dapr's gRPC workflow service, started before the HTTP server (grpc is imported only here)."""
    try:
        from wf.server.grpc import GrpcServer
    except ImportError as exc:
        raise UnsupportedError(
            f"wf serve --grpc-port needs the 'dapr' extra ({exc.name or exc} is not installed): "
            "python -m pip install 'wf[dapr]', or pass --grpc-port 0") from None
    server = GrpcServer(db, app_id=app_id, host=host, port=port, token=token, durability=durability, tokens=tokens,
                        allow_hosts=allow_hosts)
    server.start()
    return server


def _check_store(db, app_id: str, durability: str | None) -> None:
    from wf.backends.local import LocalBackend

    backend = LocalBackend(db, app_id=app_id, durability=durability)
    try:
        backend.store()
    finally:
        backend.close()


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server that says where it listens once it really does (port 0: the port it got)."""

        def __init__(self, config, announce) -> None:
            super().__init__(config)
            self._announce = announce

        def handle_exit(self, sig, frame) -> None:
            # A first SIGINT / SIGTERM drains (in-flight requests, then the app's workers) and wf
            # exits 0, like `wf worker`; a second stops at once. (uvicorn would re-raise the signal.)
            if self.should_exit:
                self.force_exit = True
            else:
                log.info("wf serve: stopping; finishing the requests in progress (signal again to exit at once)")
            self.should_exit = True

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                port = self.config.port
                try:
                    port = self.servers[0].sockets[0].getsockname()[1]
                except (AttributeError, IndexError, OSError):
                    pass
                self._announce(port)

    return Server


def default_tokens_file() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "wf", "tokens.toml")


@serve_cmd.group("token")
def token_group() -> None:
    """Named tokens for `wf serve --tokens FILE`: the file keeps only their SHA-256 hashes."""


@token_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(("read", "operate", "admin")), required=True,
              help="read: get, list, history; operate: also start, raise-event, suspend, resume, terminate, "
                   "rerun; admin: also purge, bulk operations, retention, audit.")
@click.option("--tokens", "tokens_file", metavar="FILE", help="The tokens file [default: ~/.config/wf/tokens.toml].")
@pass_globals
def token_add_cmd(g: Globals, name: str, role: str, tokens_file: str | None) -> None:
    """Create a token NAME with a role; print it once (only its hash is kept).

    \b
    Example:
      wf serve token add ci-reader --role read --tokens /etc/wf/tokens.toml
    """
    from wf.server.auth import add_token

    path = os.path.expanduser(tokens_file) if tokens_file else default_tokens_file()
    token = add_token(path, name, role)
    g.out.line(token)
    g.out.note(f"Added token {name!r} (role {role}) to {path}; it is shown only now: keep it somewhere safe")


COMMANDS = [serve_cmd]
