"""Greetings with initials: the sample project of `nexus-lsp demo`."""


def initials(full_name: str) -> str:
    """Return the initials of ``full_name``: "Ada Lovelace" -> "AL"."""
    return "".join(part[1] for part in full_name.split()).upper()


def greet(full_name: str) -> str:
    """Greet someone by name and initials: "Hello, Ada Lovelace (AL)!"."""
    return f"Hello, {full_name} ({initials(full_name)})!"


if __name__ == "__main__":
    print(greet("Ada Lovelace"))
