"""Check that this interpreter can run GeoDjango on SpatiaLite.

SpatiaLite is a SQLite extension: the interpreter's sqlite3 module must be
allowed to load extensions and must link the SQLite that SpatiaLite was
built for. Distribution interpreters do; pyenv and python.org builds
usually cannot load extensions at all.
"""

import sqlite3
import sys

MINIMUM = (3, 10)


def fail(message):
    sys.stderr.write(message.strip() + "\n")
    sys.exit(1)


if sys.version_info < MINIMUM:
    fail(f"Python {'.'.join(map(str, MINIMUM))} or newer is needed; this is {sys.version.split()[0]}.")

connection = sqlite3.connect(":memory:")
if not hasattr(connection, "enable_load_extension"):
    fail(
        f"""
{sys.executable} was built without SQLite extension loading, so it cannot use
SpatiaLite. Build the virtualenv from your distribution's python3 instead:
    rm -rf .venv && make PYTHON=/usr/bin/python3 ...
(Debian/Ubuntu: apt-get install python3-venv; macOS: brew install python spatialite-tools,
then PYTHON=$(brew --prefix)/bin/python3.)
"""
    )
connection.enable_load_extension(True)
for name in ("mod_spatialite", "mod_spatialite.so", "mod_spatialite.dylib"):
    try:
        connection.load_extension(name)
        break
    except sqlite3.OperationalError:
        continue
else:
    fail(
        """
SpatiaLite (mod_spatialite) could not be loaded.
Debian/Ubuntu: apt-get install libsqlite3-mod-spatialite   macOS: brew install spatialite-tools
"""
    )
