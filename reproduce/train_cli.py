"""train / range-test subcommands (filled by the training stack)."""


def add_commands(sub, add_schedule_args, schedule_from_args) -> None:
    return None
