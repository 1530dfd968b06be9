#!/bin/sh
# Regenerate the build system. Serialised with a lock so parallel builds
# sharing one source tree do not race.
set -e
cd "$(dirname "$0")"
exec 9>.autogen.lock
flock 9
autoreconf -fi
