"""What goes wrong with a prompt file, as `path:line: message`."""

from __future__ import annotations


class PromptError(Exception):
    """A prompt that cannot be used: its file, frontmatter, template or inputs. `str()` is `path:line: message`."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")


class PromptInputError(PromptError):
    """Inputs that do not match the prompt's `schema`: every violation, each with its path in the inputs."""

    def __init__(self, path: str, line: int | None, violations: list[str]) -> None:
        self.violations = violations
        listed = "\n".join(f"  - {violation}" for violation in violations)
        super().__init__(path, line, f"the inputs do not match the prompt's schema:\n{listed}")
