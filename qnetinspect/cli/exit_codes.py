"""Process exit codes. ``check`` follows the monitoring-plugins convention; the rest are plain."""

from __future__ import annotations

OK = 0
PROBLEMS = 1  # the command ran and found problems (lint)
USAGE = 2  # bad usage, bad input
INTERNAL = 70  # an unexpected error (a bug): EX_SOFTWARE of sysexits.h
INTERRUPTED = 130

# monitoring-plugins (Nagios, Icinga) convention for `check`
NAGIOS_OK = 0
NAGIOS_WARNING = 1
NAGIOS_CRITICAL = 2
NAGIOS_UNKNOWN = 3
