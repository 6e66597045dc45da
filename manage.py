#!/usr/bin/env python
"""Django's command-line utility for Countdown Guard."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.core.management import execute_from_command_line

    from dashboard.env import SettingsError

    try:
        execute_from_command_line(sys.argv)
    except SettingsError as exc:
        # A setting missing or malformed in the environment: its message says what to set.
        sys.exit(f"Countdown Guard cannot start: {exc}")


if __name__ == "__main__":
    main()
