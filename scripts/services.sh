#!/usr/bin/env bash
# Starts the services the tests use when they are installed but stopped (CI machines start
# PostgreSQL before a session, but it may have stopped since). Never fails the build: tests
# that need PostgreSQL skip with a reason when no server answers.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    version=$(ls /etc/postgresql 2>/dev/null | head -n 1)
    if [ -n "$version" ]; then
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break
            sleep 1
        done
    fi
fi
pg_isready -h 127.0.0.1 -p 5432 2>/dev/null || echo "PostgreSQL is not answering: its tests will skip"
exit 0
