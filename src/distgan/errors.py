"""The one exception type users see: a message that names what was wrong and how to fix it."""


class DistganError(Exception):
    """Bad input or an unrecoverable run condition. The CLI prints it as one line and exits 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM to distgan's launcher: it stops as on Ctrl-C (ranks killed, whole checkpoints kept)."""


def stop_on_sigterm() -> None:
    """Make SIGTERM stop this process as Ctrl-C does. Not for a rank under torchrun, which has its own."""
    import signal

    def handler(signum, frame):  # noqa: ARG001 - signal's signature
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
