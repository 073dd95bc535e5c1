"""Whether a server of the toolkit's (TensorBoard, a sweep's chief) could listen on an address."""

from __future__ import annotations

import errno
import socket

from toolkit.errors import ToolkitError


def check_can_listen(
    host: str,
    port: int,
    *,
    server: str,
    host_option: str,
    port_option: str,
    host_hint: str = "",
) -> None:
    """A one-line ToolkitError when ``server`` ("TensorBoard", "the chief") could not listen on ``host:port``: a port out
    of range, a host that is not this machine's, or a port in use, each naming the option to
    change. Checked before anything is written or started: the servers themselves bind late
    (TensorBoard after seconds of start-up, a chief's gRPC server when its search starts)."""
    if not 1 <= port <= 65535:
        raise ToolkitError(f"{port_option} must be between 1 and 65535, got {port}")
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except (socket.gaierror, UnicodeError):
        raise ToolkitError(
            f"{host_option} {host} is not an address or host name of this machine{host_hint}"
        ) from None
    with socket.socket(family, kind, protocol) as probe:
        # As the servers bind: a port left in TIME_WAIT by one that ended is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ToolkitError(
                    f"port {port} on {host} is in use (another {server.removeprefix('the ')}?); "
                    f"pick a free one with {port_option}"
                ) from None
            raise ToolkitError(
                f"{server} cannot listen on {host}:{port}: {error.strerror or error} "
                f"({host_option} must be an address of this machine)"
            ) from None
