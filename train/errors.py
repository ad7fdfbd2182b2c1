"""The one error type that reaches the user as a single line.

Anything the user can cause (a missing file, a corrupt pickle, a split that does not exist, a
camera that does not open) is raised as `SkelcamError` with a message that names the problem.
The command-line entry points catch it, print the message and exit non-zero, so users never see a
traceback for their own mistakes. Anything else is a bug and keeps its traceback.
"""


class SkelcamError(Exception):
    """A problem with the user's input or environment, reported as one line."""


def print_error(message: str) -> None:
    """Print `error: message` as one line on stderr, exactly as given (no markup parsing)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)


class ReportedElsewhere(Exception):
    """This process failed, but another process of the same distributed run reports why.

    Raised by `train.distributed.session` in every rank but the first to fail, so that a run of
    N processes ends with one error line; the command line exits non-zero without printing.
    """


def print_warning(message: str) -> None:
    """Print `warning: message` as one line on stderr, for events a run survives or ends on
    normally (a network stream dropping, coming back, or gone), never wrapped into two lines."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)
